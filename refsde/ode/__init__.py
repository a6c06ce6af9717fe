"""ODE solvers in the Array API (fixed-step Euler/Heun/RK4 and adaptive Dormand-Prince RK45) that stay on the device."""
