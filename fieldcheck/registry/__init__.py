"""Registry import: identifier checks, text and address normalisation, reading bureau files."""
