"""The virtual forearm + virtual patient (magpylib physics): see docs/simulator.md.

Entry points: `bridge.sim.config.SimConfig`, `bridge.sim.simulator.Simulator`, the
`sim:` source (`bridge.sources.sim_source`) and `fist-and-ball simulate`.
"""
