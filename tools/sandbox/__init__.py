"""The jail model-written code runs in: bubblewrap (``jail``), the bootstrap inside it (``_child``), the result
channel read as untrusted input (``channel``), the runner that ties them together (``run``) and the ``<python>``
tool built on it (``pytool``)."""
