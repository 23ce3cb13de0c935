"""Photo evidence: checking uploads, reading their EXIF, thumbnails and storage."""
