"""The shared cache: a step computed once is reused by every clone, machine, SLURM node and pod.

Keys come from Snakemake's provenance hash (:mod:`~slashmake.cache.keys`); entries live in DVC's
content-addressed storage at a folder or a DVC remote (:mod:`~slashmake.cache.store`); the
controller restores hits before Snakemake schedules and stores what ran after
(:mod:`~slashmake.cache.session`); ``cache:`` in ``config/config.yaml`` says where and what
(:mod:`~slashmake.cache.settings`). docs/cache.md says why it is not Snakemake's own store.

May import: ``compiler`` and below; never ``execution``, ``api`` or ``interfaces``.
"""
