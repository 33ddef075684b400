"""Files -> passages: finding and reading the corpus's files (text, Markdown,
HTML, DOCX, PDF with its layout, scanned pages through OCR), cleaning their
text, cutting it into passages, and the acronyms each file defines. Uploads and
the corpus watcher land files here too."""
