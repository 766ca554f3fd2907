"""From an export to the analysis file: formats, conversion to the instrument, cleaning, privacy, codebook."""
