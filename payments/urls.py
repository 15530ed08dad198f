from django.urls import path

from payments.webhooks import clover_webhook

urlpatterns = [path("", clover_webhook, name="clover-webhook")]
