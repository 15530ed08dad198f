from django.urls import path

from intake.api import views

urlpatterns = [
    path("locations", views.LocationListView.as_view(), name="api-locations"),
    path("patients", views.PatientRegisterView.as_view(), name="api-patient-register"),
    path("patients/<uuid:patient_id>", views.PatientDetailView.as_view(), name="api-patient"),
    path("patients/<uuid:patient_id>/intake-forms", views.IntakeFormView.as_view(), name="api-intake-forms"),
    path("patients/<uuid:patient_id>/insurances", views.InsuranceView.as_view(), name="api-insurances"),
    path("slots", views.SlotListView.as_view(), name="api-slots"),
    path("appointments", views.BookingView.as_view(), name="api-book"),
    path("appointments/<str:appointment_id>/cancel", views.AppointmentCancelView.as_view(), name="api-cancel"),
    path(
        "appointments/<str:appointment_id>/reschedule", views.AppointmentRescheduleView.as_view(), name="api-reschedule"
    ),
    path("appointments/<str:appointment_id>/check-in", views.AppointmentCheckInView.as_view(), name="api-check-in"),
    path("events", views.EventListView.as_view(), name="api-events"),
    path("submissions/<uuid:submission_id>", views.SubmissionDetailView.as_view(), name="api-submission"),
]
