"""Twilio (SMS): the outbound client and the webhook signature check, no models."""
