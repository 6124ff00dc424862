"""Content: video and file assets, uploads, the media pipeline's records, signed playback."""
