"""Pure statistics on sufficient statistics: no I/O, no project imports but ``experimentos.model``."""
