"""Clover (card payments): the e-commerce REST client, no models."""
