"""The Moola pipeline's programs, one module each: the demo's commands run
``python -m slashmake_ml.scripts.<name>`` (installed with ``pip install 'slashmake[ml]'``)."""
