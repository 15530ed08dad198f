"""Insurance-card OCR: read a card photo into fields with per-field confidence and a matched payer.

`read_card(front, back)` is the entry point; `cards.generate_card` makes synthetic test cards.
"""

from intake.ocr.pipeline import CardImageError, OcrUnavailableError
from intake.ocr.reader import CardReading, read_card

__all__ = ["CardImageError", "CardReading", "OcrUnavailableError", "read_card"]
