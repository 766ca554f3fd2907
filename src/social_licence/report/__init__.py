"""What users read: disclosure control (one suppression engine), tables, figures, the brief."""
