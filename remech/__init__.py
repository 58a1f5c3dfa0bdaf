"""remech: allied price-support mechanisms for rare earths, as a two-stage stochastic MIP."""

__version__ = "0.1.0"
