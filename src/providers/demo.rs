//! A simulated LiveAgent v3 API (placeholder while the simulation is written).
