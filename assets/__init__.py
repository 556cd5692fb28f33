"""Package data for the simulator: robot and human models, textures and other static assets."""
