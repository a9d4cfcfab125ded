"""Every Lightning callback of the stages, importable as `conprune.lit.callbacks.<Name>` (the YAML
class paths): the sparsity ramp, the guards every stage gets, the dashboard, throughput, RNG state."""

from conprune.lit.callbacks.dashboard import GateMapDashboard, LearningRates, SaveConfigToLoggers
from conprune.lit.callbacks.guards import NonFiniteGuard, OutputDirsCheck, ValidateLastStep, default_callbacks
from conprune.lit.callbacks.ramp import SparsityRamp, ramp_value
from conprune.lit.callbacks.rng import RngState
from conprune.lit.callbacks.throughput import Throughput

__all__ = ["GateMapDashboard", "LearningRates", "NonFiniteGuard", "OutputDirsCheck", "RngState",
           "SaveConfigToLoggers", "SparsityRamp", "Throughput", "ValidateLastStep", "default_callbacks",
           "ramp_value"]
