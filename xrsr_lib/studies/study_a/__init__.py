"""Study A: resolution recovery of foam pores as the resolution gap grows (Figures 1-9).

``datasets`` (phantoms, projections, reconstructions) -> ``methods`` (trained models, predictions)
-> ``evaluation`` (scores, cached) -> ``paper`` (comparison with the reported numbers) ->
``figures``; ``notebook`` sets up notebooks 04-10.
"""

__all__: list[str] = []
