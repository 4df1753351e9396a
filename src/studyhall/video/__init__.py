"""Lesson videos: resumable uploads (StudyHall's own tus server, or Vimeo), Range playback and
per-video watch analytics."""
