"""The `lms` command: the one place that wires the API (`web`), the workers (`tasks`) and the
domain core (`lms`) into processes. Nothing imports it back."""
