"""Notifications: targets (Apprise URLs and signed webhooks), their delivery from the audit
log, and the rules that keep a target from reaching inside this machine or its cloud."""
