"""The studies xrsr reproduces, each as cached stages, tables and figures over the library.

- :mod:`~xrsr_lib.studies.study_a`: DeepNet, SRCNN and Richardson-Lucy on simulated foams
  (Figures 1-9);
- :mod:`~xrsr_lib.studies.study_b`: UTSR, SwinIR and Real-ESRGAN on simulated nano-CT slices.
"""

__all__: list[str] = []
