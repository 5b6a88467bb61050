"""What mnemos solves and runs: the Problem contract (``problem``), task families (``domains``), their data and scoring (``tasks``) and the sandbox for model-written code (``sandbox``)."""
