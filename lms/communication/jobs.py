"""The Communication module's scheduled work (registered in `tasks/communication.py`)."""

PUBLISH_DUE_TASK = "communication.publish_due"  # beat: scheduled announcements whose time came
PUBLISH_DUE_SECONDS = 10.0
