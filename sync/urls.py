from django.urls import path

from sync.webhooks import athena_webhook

urlpatterns = [path("athena/", athena_webhook, name="athena-webhook")]
