"""The studies xrsr reproduces, each as cached stages, tables and figures over the library.

- :mod:`~xrsr_lib.studies.study_a`: DeepNet, SRCNN and Richardson-Lucy on simulated foams
  (Figures 1-9);
- :mod:`~xrsr_lib.studies.multiscale`: study A's multiscale workflow (its Figures 10-12): scans of
  one sample at 9, 3 and 1 µm, registered, step models 9->3 and 3->1 and their chain;
- :mod:`~xrsr_lib.studies.study_b`: UTSR, SwinIR and Real-ESRGAN on simulated nano-CT slices
  (Figures 10-12 of study B);
- :mod:`~xrsr_lib.studies.stage` (a profile's cached stages) and :mod:`~xrsr_lib.studies.tables`
  (the tables they share).
"""

__all__: list[str] = []
