"""Dependencies vendored into a worker's package: pip, npm, Bundler and Composer trees, the
cache that keeps them, and the ``__runner__.sh`` that puts them in reach (README "Workers with
dependencies")."""
