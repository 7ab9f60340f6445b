"""Preview adapters: Pillow, pypdfium2, LibreOffice, Pygments, markdown-it-py, a file cache."""
