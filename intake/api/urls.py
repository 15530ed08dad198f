from django.urls import path

from intake.api import payment_views, views

urlpatterns = [
    path("locations", views.LocationListView.as_view(), name="api-locations"),
    path("patients", views.PatientRegisterView.as_view(), name="api-patient-register"),
    path("patients/<uuid:patient_id>", views.PatientDetailView.as_view(), name="api-patient"),
    path("patients/<uuid:patient_id>/intake-forms", views.IntakeFormView.as_view(), name="api-intake-forms"),
    path("patients/<uuid:patient_id>/insurances", views.InsuranceView.as_view(), name="api-insurances"),
    # Insurance cards (issue 6): multipart photos, read by OCR in the background.
    path("patients/<uuid:patient_id>/insurance-cards", views.InsuranceCardView.as_view(), name="api-insurance-cards"),
    path("slots", views.SlotListView.as_view(), name="api-slots"),
    path("appointments", views.BookingView.as_view(), name="api-book"),
    path("appointments/<str:appointment_id>/cancel", views.AppointmentCancelView.as_view(), name="api-cancel"),
    path(
        "appointments/<str:appointment_id>/reschedule", views.AppointmentRescheduleView.as_view(), name="api-reschedule"
    ),
    path("appointments/<str:appointment_id>/check-in", views.AppointmentCheckInView.as_view(), name="api-check-in"),
    path("events", views.EventListView.as_view(), name="api-events"),
    path("submissions/<uuid:submission_id>", views.SubmissionDetailView.as_view(), name="api-submission"),
    # Payments (issue 8): create a payment intent, complete it with a card token, read it, refund it.
    path("payments", payment_views.PaymentCreateView.as_view(), name="api-payments"),
    path("payments/<uuid:payment_id>", payment_views.PaymentDetailView.as_view(), name="api-payment"),
    path(
        "payments/<uuid:payment_id>/complete", payment_views.PaymentCompleteView.as_view(), name="api-payment-complete"
    ),
    path("payments/<uuid:payment_id>/refunds", payment_views.PaymentRefundView.as_view(), name="api-payment-refunds"),
]
