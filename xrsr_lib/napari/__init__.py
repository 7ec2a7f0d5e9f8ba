"""napari plugin (optional extra ``napari``; manifest ``napari.yaml``, entry point ``napari.manifest``).

- :mod:`~xrsr_lib.napari.reader`: opens an xrsr OME-Zarr result as a multiscale image at its voxel
  size, with the trust map (``<out>/trust``) as a second layer.
- :mod:`~xrsr_lib.napari.widget`: runs ``predict_to_zarr`` on a model folder, an input and a ROI in a
  worker thread, with progress and cancel, and opens the result.

Only :mod:`~xrsr_lib.napari.widget` imports napari and Qt; the reader works without them.
"""
