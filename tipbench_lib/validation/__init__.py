"""Known truths for checking the statistics: what the tests and ``bench/`` run, never the product.

The product's packages (``collect``, ``judge``, ``compare``, ``stats`` and the rest) never import
this one. ``synthetic`` draws experiments whose true cell means are known (discrete 1-5 scores
with ties and ceilings, several judges with their own biases, the shipped rubric's frames);
``simulation`` stacks many replicates of such experiments into one array to measure coverage,
family-wise error and power of :mod:`tipbench_lib.stats`; ``queue_simulation`` plays the adaptive
judging queue (:mod:`tipbench_lib.stats.adaptive`) against simulated people, with a
ceiling-heavy generator; ``judge_simulation`` simulates LLM judges and people on one tip set for
the judge-consistency and PPI benchmarks. Claims in ``docs/architecture.md`` and
``docs/benchmarks.md`` rest on these (architecture.md §8).
"""
