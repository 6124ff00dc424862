"""Communication: direct messages, course forums, announcements, presence and typing."""
