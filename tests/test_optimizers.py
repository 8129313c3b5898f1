"""Optimizers: first steps worked out by hand, 20-step agreement with the equations written
out again here, convergence on a quadratic, and the contract (in-place updates, state per
parameter name, checkpoints that resume bit for bit, dtype kept, clear errors)."""

import math

import numpy as np
import pytest

from convnet import optimizers as O

P0 = [1.0, -2.0]
G1 = [0.5, -1.0]
G2 = [1.0, 2.0]


def two_steps(opt, dtype=np.float64):
    """Run ``opt`` for the steps G1, G2 from P0; return p after each step."""
    p = np.array(P0, dtype=dtype)
    after = []
    for g in (G1, G2):
        opt.step({"w": p}, {"w": np.array(g, dtype=dtype)})
        after.append(p.copy())
    return after


def assert_close(actual, expected, rtol=1e-12):
    """Relative error ≤ rtol, measured against the scale of the whole array: an entry that is
    near zero because terms cancelled carries rounding noise of the size of the array's other
    entries, not of its own."""
    expected = np.asarray(expected, dtype=np.float64)
    atol = rtol * float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# -- 1. first and second steps by hand ---------------------------------------------------------
# p0 = [1, -2], g1 = [0.5, -1], g2 = [1, 2] throughout. The expected numbers below were worked
# out with plain scalar arithmetic from the equations in the docstrings.


def test_sgd_by_hand():
    p1, p2 = two_steps(O.SGD(learning_rate=0.1))
    assert_close(p1, [0.95, -1.9])  # p - 0.1 g1
    assert_close(p2, [0.85, -2.1])  # p1 - 0.1 g2


def test_sgd_momentum_by_hand():
    p1, p2 = two_steps(O.SGD(learning_rate=0.1, momentum=0.9))
    # v1 = -0.1 g1 = [-0.05, 0.1];  p1 = p0 + v1
    assert_close(p1, [0.95, -1.9])
    # v2 = 0.9 v1 - 0.1 g2 = [-0.045 - 0.1, 0.09 - 0.2] = [-0.145, -0.11];  p2 = p1 + v2
    assert_close(p2, [0.805, -2.01])


def test_sgd_nesterov_by_hand():
    p1, p2 = two_steps(O.SGD(learning_rate=0.1, momentum=0.9, nesterov=True))
    # v1 = [-0.05, 0.1];  p1 = p0 + 0.9 v1 - 0.1 g1 = [1 - 0.045 - 0.05, -2 + 0.09 + 0.1]
    assert_close(p1, [0.905, -1.81])
    # v2 = [-0.145, -0.11];  p2 = p1 + 0.9 v2 - 0.1 g2 = [0.905 - 0.1305 - 0.1, -1.81 - 0.099 - 0.2]
    assert_close(p2, [0.6745, -2.109])


def test_adam_by_hand():
    opt = O.Adam(learning_rate=0.01)  # β1 = 0.9, β2 = 0.999, ε = 1e-7
    p1, p2 = two_steps(opt)
    # m1 = 0.1 g1 = [0.05, -0.1];  v1 = 0.001 g1² = [2.5e-4, 1e-3]
    # lr_1 = 0.01 sqrt(0.001) / 0.1 = 0.00316227766...;  sqrt(v1) = [0.0158113883, 0.0316227766]
    # step = lr_1 m1 / (sqrt(v1) + 1e-7) = [0.0099999367548, -0.0099999683773]: about lr·sign(g)
    assert_close(p1, [0.9900000632451532, -1.9900000316226767])
    # m2 = 0.9 m1 + 0.1 g2 = [0.145, 0.11];  v2 = 0.999 v1 + 0.001 g2² = [0.00124975, 0.004999]
    # lr_2 = 0.01 sqrt(1 - 0.999²) / (1 - 0.9²) = 0.01 · 0.04471018 / 0.19 = 0.00235316...
    assert_close(p2, [0.9803482702890589, -1.993661061715039])
    assert_close(opt.slots["momentum"]["w"], [0.145, 0.11])
    assert_close(opt.slots["velocity"]["w"], [0.00124975, 0.004999])


def test_adamw_by_hand():
    opt = O.AdamW(learning_rate=0.01, weight_decay=0.1)  # lr·wd = 0.001; Adam as above
    p1, p2 = two_steps(opt)
    # decay first: p0 - 0.001 p0 = [0.999, -1.998]; then Adam's first step, which does not
    # depend on p: [0.0099999367548, -0.0099999683773] (test_adam_by_hand)
    assert_close(p1, [0.9890000632451532, -1.9880000316226767])
    # decay: p1 - 0.001 p1 = [0.988011063181908, -1.986012031591054]; Adam's second step
    # (m2 = [0.145, 0.11], v2 = [0.00124975, 0.004999]) = [0.0096517929561, 0.0036610300924]
    assert_close(p2, [0.9783592702258137, -1.9896730616834164])
    # the slots are Adam's, fed by g alone: the decay never reaches them
    assert_close(opt.slots["momentum"]["w"], [0.145, 0.11])
    assert_close(opt.slots["velocity"]["w"], [0.00124975, 0.004999])


def test_adamw_without_decay_is_adam_bit_for_bit():
    params, grads = random_problem(4, dtype=np.float32, steps=20)
    adam_params = {k: v.copy() for k, v in params.items()}
    adam, adamw = O.Adam(learning_rate=0.01), O.AdamW(learning_rate=0.01, weight_decay=0.0)
    for g in grads:
        adam.step(adam_params, g)
        adamw.step(params, g)
    for k in params:
        np.testing.assert_array_equal(params[k], adam_params[k])
        for slot in ("momentum", "velocity"):
            np.testing.assert_array_equal(adamw.slots[slot][k], adam.slots[slot][k])
    # With Keras's default decay it is not Adam, even in float32 (the check above could fail):
    # the positive weights end lower, by lr·wd = 4e-5 of themselves.
    w_adam, w_adamw, g = np.ones(3, np.float32), np.ones(3, np.float32), np.ones(3, np.float32)
    O.Adam(learning_rate=0.01).step({"w": w_adam}, {"w": g})
    O.AdamW(learning_rate=0.01).step({"w": w_adamw}, {"w": g})
    assert_close(w_adam - w_adamw, np.full(3, 4e-5), rtol=1e-2)


def test_adamw_exclusion_leaves_matching_parameters_to_adam_alone():
    params, grads = random_problem(5, steps=5)
    params["batch_normalization/gamma"] = np.linspace(0.5, 2.0, 3)
    params["dense/bias"] = np.linspace(-1.0, 1.0, 4)
    for g in grads:
        g["batch_normalization/gamma"], g["dense/bias"] = np.full(3, 0.3), np.full(4, -0.2)
    excluded = ["bias", "gamma"]
    opt = O.AdamW(learning_rate=0.05, weight_decay=0.5, exclude_from_weight_decay=excluded)
    plain_adam, full_decay = O.Adam(learning_rate=0.05), O.AdamW(learning_rate=0.05,
                                                                 weight_decay=0.5)  # fmt: skip
    as_adam = {k: v.copy() for k, v in params.items()}
    as_adamw = {k: v.copy() for k, v in params.items()}
    for g in grads:
        opt.step(params, g)
        plain_adam.step(as_adam, g)
        full_decay.step(as_adamw, g)
    for k in params:
        # an excluded parameter moves exactly as with Adam, the others as with full decay
        expected = as_adam[k] if any(part in k for part in excluded) else as_adamw[k]
        np.testing.assert_array_equal(params[k], expected, err_msg=k)
        assert not np.array_equal(as_adam[k], as_adamw[k]), k  # the decay mattered
    assert [k for k in params if not opt.decays(k)] == ["conv2d/bias", "batch_normalization/gamma",
                                                        "dense/bias"]  # fmt: skip


def test_rmsprop_by_hand():
    opt = O.RMSprop(learning_rate=0.01)  # ρ = 0.9, ε = 1e-7
    p1, p2 = two_steps(opt)
    # a1 = 0.1 g1² = [0.025, 0.1];  p1 = p0 - 0.01 g1 / sqrt(a1 + 1e-7)
    #    = p0 - [0.0316227134, -0.0316227608]   (≈ 0.01 / sqrt(0.1) each)
    assert_close(p1, [0.9683772866436797, -1.9683772392096925])
    # a2 = 0.9 a1 + 0.1 g2² = [0.1225, 0.49];  step = 0.01 g2 / sqrt(a2 + 1e-7)
    assert_close(p2, [0.9398058697340516, -1.9969486648656696])
    assert_close(opt.slots["velocity"]["w"], [0.1225, 0.49])


def test_rmsprop_momentum_by_hand():
    p1, p2 = two_steps(O.RMSprop(learning_rate=0.01, momentum=0.9))
    # b1 = [0.0316227134, -0.0316227608] (the plain RMSprop step), p1 as without momentum
    assert_close(p1, [0.9683772866436797, -1.9683772392096925])
    # b2 = 0.9 b1 + [0.0285714169, 0.0285714257] = [0.0570318589, 0.0001109409];  p2 = p1 - b2
    assert_close(p2, [0.9113454277133632, -1.968488180154393])


def test_adadelta_by_hand():
    opt = O.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-6)
    p = np.array(P0)
    opt.step({"w": p}, {"w": np.array(G1)})
    # Eg1 = 0.05 g1² = [0.0125, 0.05];  Δ1 = -sqrt(0 + 1e-6) / sqrt(Eg1 + 1e-6) g1
    #     = [-0.00447195708, 0.00447209123];  Edx1 = 0.05 Δ1² = [9.9992e-7, 9.9998e-7]
    assert_close(p, [0.9955280429197062, -1.9955279087656892])
    assert_close(opt.slots["accumulated_grad"]["w"], [0.0125, 0.05])
    assert_close(opt.slots["accumulated_delta_var"]["w"], [9.999200063994882e-07,
                                                           9.999800003999919e-07])  # fmt: skip
    opt.step({"w": p}, {"w": np.array(G2)})
    # Eg2 = 0.95 Eg1 + 0.05 g2² = [0.061875, 0.2475]
    # Δ2 = -sqrt(Edx1 + 1e-6) / sqrt(Eg2 + 1e-6) g2 = [-0.00568519280, -0.00568531252]
    # Edx2 = 0.95 Edx1 + 0.05 Δ2² = [2.56599486e-6, 2.56611993e-6]
    assert_close(p, [0.9898428501234127, -2.0012132212901057])
    assert_close(opt.slots["accumulated_grad"]["w"], [0.061875, 0.2475])
    assert_close(opt.slots["accumulated_delta_var"]["w"], [2.565994862630913e-06,
                                                           2.56611992539443e-06])  # fmt: skip


def test_adadelta_learning_rate_scales_the_step():
    # Δ does not depend on lr; p moves by lr·Δ. Same Δ1 as above, times 0.001.
    (p1, _) = two_steps(O.Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-6))
    assert_close(p1, [1.0 - 0.001 * 0.0044719570802937885, -2.0 + 0.001 * 0.0044720912343108364])


# -- 2. many steps against the equations, written out again -----------------------------------


def ref_sgd(p, grads, learning_rate, momentum=0.0, nesterov=False):
    v = np.zeros_like(p)
    for g in grads:
        if momentum == 0.0:
            p = p - learning_rate * g
            continue
        v = momentum * v - learning_rate * g
        p = p + momentum * v - learning_rate * g if nesterov else p + v
    return p, ({"momentum": v} if momentum else {})


def ref_adam(p, grads, learning_rate, beta_1, beta_2, epsilon):
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        lr_t = learning_rate * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        p = p - lr_t * m / (np.sqrt(v) + epsilon)
    return p, {"momentum": m, "velocity": v}


def ref_adamw(p, grads, learning_rate, weight_decay, beta_1, beta_2, epsilon):
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        p = p - learning_rate * weight_decay * p
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        lr_t = learning_rate * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        p = p - lr_t * m / (np.sqrt(v) + epsilon)
    return p, {"momentum": m, "velocity": v}


def ref_rmsprop(p, grads, learning_rate, rho, momentum, epsilon):
    a, b = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        a = rho * a + (1 - rho) * g**2
        increment = learning_rate * g / np.sqrt(a + epsilon)
        if momentum:
            b = momentum * b + increment
            p = p - b
        else:
            p = p - increment
    return p, ({"velocity": a, "momentum": b} if momentum else {"velocity": a})


def ref_adadelta(p, grads, learning_rate, rho, epsilon):
    eg2, edx2 = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        eg2 = rho * eg2 + (1 - rho) * g**2
        delta = -np.sqrt(edx2 + epsilon) / np.sqrt(eg2 + epsilon) * g
        edx2 = rho * edx2 + (1 - rho) * delta**2
        p = p + learning_rate * delta
    return p, {"accumulated_grad": eg2, "accumulated_delta_var": edx2}


REFERENCE_CASES = [
    (O.SGD, ref_sgd, dict(learning_rate=0.05)),
    (O.SGD, ref_sgd, dict(learning_rate=0.05, momentum=0.9)),
    (O.SGD, ref_sgd, dict(learning_rate=0.05, momentum=0.8, nesterov=True)),
    (O.Adam, ref_adam, dict(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    (O.Adam, ref_adam, dict(learning_rate=0.1, beta_1=0.5, beta_2=0.9, epsilon=1e-3)),
    (O.AdamW, ref_adamw, dict(learning_rate=0.01, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                              epsilon=1e-7)),
    (O.AdamW, ref_adamw, dict(learning_rate=0.1, weight_decay=0.5, beta_1=0.5, beta_2=0.9,
                              epsilon=1e-3)),
    (O.RMSprop, ref_rmsprop, dict(learning_rate=0.01, rho=0.9, momentum=0.0, epsilon=1e-7)),
    (O.RMSprop, ref_rmsprop, dict(learning_rate=0.01, rho=0.8, momentum=0.5, epsilon=1e-3)),
    (O.Adadelta, ref_adadelta, dict(learning_rate=1.0, rho=0.95, epsilon=1e-6)),
    (O.Adadelta, ref_adadelta, dict(learning_rate=0.5, rho=0.7, epsilon=1e-3)),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "ref", "hyper"), REFERENCE_CASES,
                         ids=[repr(c(**h)) for c, _, h in REFERENCE_CASES])  # fmt: skip
def test_twenty_steps_match_the_equations(cls, ref, hyper):
    rng = np.random.default_rng(7)
    shapes = {"conv/kernel": (4, 3, 2, 2), "conv/bias": (4,), "dense/kernel": (12, 5)}
    p0 = {k: rng.normal(size=s) for k, s in shapes.items()}
    grads = [{k: rng.normal(scale=rng.uniform(0.01, 10.0), size=s) for k, s in shapes.items()}
             for _ in range(20)]  # fmt: skip
    opt = cls(**hyper)
    params = {k: v.copy() for k, v in p0.items()}
    for g in grads:
        opt.step(params, g)
    assert opt.iterations == 20
    for k in shapes:
        expected_p, expected_state = ref(p0[k], [g[k] for g in grads], **hyper)
        assert_close(params[k], expected_p)
        assert set(expected_state) == set(opt.slots)
        for slot, arr in expected_state.items():
            assert_close(opt.slots[slot][k], arr)


# -- 3. each one minimises a quadratic ---------------------------------------------------------

CURVATURE = np.array([1.0, 3.0, 10.0])  # condition number 10
MINIMUM = np.array([1.0, -2.0, 0.5])


def quadratic(p):
    return 0.5 * float(np.sum(CURVATURE * (p - MINIMUM) ** 2))


CONVERGENCE_CASES = [
    (O.SGD, dict(learning_rate=0.05)),
    (O.SGD, dict(learning_rate=0.02, momentum=0.9)),
    (O.SGD, dict(learning_rate=0.02, momentum=0.9, nesterov=True)),
    (O.Adam, dict(learning_rate=0.05)),
    (O.AdamW, dict(learning_rate=0.05)),
    (O.RMSprop, dict(learning_rate=0.01)),
    (O.RMSprop, dict(learning_rate=0.01, momentum=0.5)),
    # Keras's default lr 0.001 would need many thousands of steps: the paper's lr = 1.
    (O.Adadelta, dict(learning_rate=1.0, rho=0.9, epsilon=1e-4)),
]


@pytest.mark.parametrize(("cls", "hyper"), CONVERGENCE_CASES,
                         ids=[repr(cls(**hyper)) for cls, hyper in CONVERGENCE_CASES])  # fmt: skip
def test_minimises_a_quadratic(cls, hyper):
    opt = cls(**hyper)
    p = np.zeros(3)
    start = quadratic(p)  # 7.75
    for _ in range(300):
        opt.step({"p": p}, {"p": CURVATURE * (p - MINIMUM)})
    # Every case ends at least 6x below this bound (RMSprop with momentum is the slowest: it
    # ends up circling the minimum at a distance set by lr); most reach 1e-12 or better.
    assert quadratic(p) < start * 1e-4


# -- 4. the contract ---------------------------------------------------------------------------

ALL = [
    lambda: O.SGD(learning_rate=0.1),
    lambda: O.SGD(learning_rate=0.1, momentum=0.9),
    lambda: O.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    lambda: O.Adam(learning_rate=0.01),
    lambda: O.AdamW(learning_rate=0.01, weight_decay=0.1, exclude_from_weight_decay=["bias"]),
    lambda: O.RMSprop(learning_rate=0.01),
    lambda: O.RMSprop(learning_rate=0.01, momentum=0.9),
    lambda: O.Adadelta(learning_rate=1.0),
]
ALL_IDS = ["sgd", "sgd-momentum", "sgd-nesterov", "adam", "adamw", "rmsprop",
           "rmsprop-momentum", "adadelta"]  # fmt: skip


def random_problem(seed, dtype=np.float64, steps=10):
    rng = np.random.default_rng(seed)
    shapes = {"conv2d/kernel": (3, 2, 3, 3), "conv2d/bias": (3,), "dense/kernel": (6, 4)}
    params = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
             for _ in range(steps)]  # fmt: skip
    return params, grads


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_updates_in_place(make):
    storage = np.ones((2, 5))
    w = storage[:, 1:4]  # a view, as a layer's parameter could be: only in-place writes reach
    params = {"w": w}
    make().step(params, {"w": np.full((2, 3), 0.5)})
    assert params["w"] is w
    assert np.all(storage[:, 1:4] < 1.0)
    assert np.all(storage[:, [0, 4]] == 1.0)


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_state_is_per_parameter_name(make):
    params, grads = random_problem(0)
    together = make()
    alone = {k: make() for k in params}
    separate = {k: v.copy() for k, v in params.items()}
    for g in grads:
        together.step(params, g)
        for k in params:
            alone[k].step({k: separate[k]}, {k: g[k]})
    for k in params:
        np.testing.assert_array_equal(params[k], separate[k])
        for slot in together.slots:
            assert together.slots[slot][k] is not alone[k].slots[slot][k]
            np.testing.assert_array_equal(together.slots[slot][k], alone[k].slots[slot][k])


def test_state_is_created_lazily_with_the_parameters_shape_and_dtype():
    opt = O.Adam()
    assert opt.slots == {"momentum": {}, "velocity": {}}
    w = np.zeros((2, 3), dtype=np.float32)
    opt.step({"w": w}, {"w": np.ones((2, 3), dtype=np.float32)})
    for slot in ("momentum", "velocity"):
        assert opt.slots[slot]["w"].shape == (2, 3)
        assert opt.slots[slot]["w"].dtype == np.float32
    assert O.SGD().slots == {}  # plain SGD has no state


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_state_dict_round_trip_continues_bit_for_bit(make, tmp_path):
    params, grads = random_problem(1, steps=12)
    straight = make()
    resumed_params = {k: v.copy() for k, v in params.items()}
    first = make()
    for g in grads[:7]:
        straight.step(params, g)
        first.step(resumed_params, g)
    # Through a file, as a checkpoint would go.
    np.savez(tmp_path / "opt.npz", **first.state_dict())
    with np.load(tmp_path / "opt.npz") as f:
        saved = {k: f[k] for k in f.files}
    resumed = O.get(first.name, **first.get_config())
    resumed.load_state_dict(saved)
    assert resumed.iterations == 7
    for g in grads[7:]:
        straight.step(params, g)
        resumed.step(resumed_params, g)
    for k in params:
        np.testing.assert_array_equal(params[k], resumed_params[k])
    for slot in straight.slots:
        for k in params:
            np.testing.assert_array_equal(straight.slots[slot][k], resumed.slots[slot][k])


def test_state_dict_is_a_copy_and_load_replaces_everything():
    opt = O.Adam()
    w = np.zeros(3)
    opt.step({"w": w}, {"w": np.ones(3)})
    state = opt.state_dict()
    assert sorted(state) == ["iterations", "w/momentum", "w/velocity"]
    assert state["iterations"].dtype == np.int64 and state["iterations"].shape == ()
    m1 = opt.slots["momentum"]["w"].copy()
    opt.step({"w": w}, {"w": np.ones(3)})
    # The snapshot did not move with the optimizer.
    assert int(state["iterations"]) == 1
    np.testing.assert_array_equal(state["w/momentum"], m1)
    assert not np.array_equal(opt.slots["momentum"]["w"], m1)
    other = O.Adam()
    other.step({"v": np.zeros(2)}, {"v": np.ones(2)})
    other.load_state_dict(state)
    assert set(other.slots["momentum"]) == {"w"}  # 'v' is gone: the state was replaced
    state["w/momentum"][:] = 5.0
    np.testing.assert_array_equal(other.slots["momentum"]["w"], m1)  # loading copied them


def test_load_state_dict_rejects_foreign_state():
    with pytest.raises(ValueError, match="iterations"):
        O.Adam().load_state_dict({"w/momentum": np.zeros(2)})
    with pytest.raises(ValueError, match="'w/accumulated_grad'"):
        O.Adam().load_state_dict({"w/accumulated_grad": np.zeros(2), "iterations": 3})
    opt = O.Adam()
    opt.load_state_dict({"dense/kernel/momentum": np.zeros((2, 2)),
                         "dense/kernel/velocity": np.zeros((2, 2)), "iterations": 3})  # fmt: skip
    with pytest.raises(ValueError, match=r"'dense/kernel'.*\(3, 2\).*\(2, 2\)"):
        opt.step({"dense/kernel": np.zeros((3, 2))}, {"dense/kernel": np.zeros((3, 2))})


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_float32_stays_float32(make):
    params32, grads32 = random_problem(2, dtype=np.float32)
    params64 = {k: v.astype(np.float64) for k, v in params32.items()}
    opt32, opt64 = make(), make()
    opt32.learning_rate = np.float64(opt32.learning_rate)  # as a callback might set it
    for g in grads32:
        opt32.step(params32, g)
        opt64.step(params64, {k: v.astype(np.float64) for k, v in g.items()})
    for k, p in params32.items():
        assert p.dtype == np.float32
        for store in opt32.slots.values():
            assert store[k].dtype == np.float32
        # Same trajectory up to float32 rounding, accumulated over 10 steps.
        assert_close(p, params64[k], rtol=1e-5)


def test_float64_gradient_of_a_float32_parameter_is_rounded_not_promoted():
    w = np.ones(3, dtype=np.float32)
    opt = O.Adam()
    opt.step({"w": w}, {"w": np.array([0.1, 0.2, 0.3])})
    assert w.dtype == np.float32 and opt.slots["velocity"]["w"].dtype == np.float32


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_mismatched_keys_or_shapes_name_the_parameter(make):
    w = np.ones((2, 3))
    with pytest.raises(ValueError, match="no gradient for parameter.*'dense/kernel'"):
        make().step({"dense/kernel": w}, {"dense/bias": np.ones(3)})
    with pytest.raises(ValueError, match="gradient.*'dense/bias'.*for no parameter"):
        make().step({"dense/kernel": w}, {"dense/kernel": w, "dense/bias": np.ones(3)})
    with pytest.raises(ValueError, match=r"'dense/kernel' has shape \(2, 3\).*\(3, 2\)"):
        make().step({"dense/kernel": w}, {"dense/kernel": np.ones((3, 2))})
    with pytest.raises(ValueError, match="'dense/kernel' must be a NumPy array"):
        make().step({"dense/kernel": [1.0, 2.0]}, {"dense/kernel": np.ones(2)})


def test_a_bad_call_changes_nothing():
    opt = O.SGD(learning_rate=0.1, momentum=0.9)
    a, b = np.ones(2), np.ones(3)
    with pytest.raises(ValueError, match="'b'"):
        opt.step({"a": a, "b": b}, {"a": np.ones(2), "b": np.ones(4)})
    assert np.all(a == 1.0) and opt.iterations == 0 and opt.slots["momentum"] == {}


def test_learning_rate_change_takes_effect_on_the_next_step():
    opt = O.SGD(learning_rate=0.1)
    w = np.array([1.0])
    opt.step({"w": w}, {"w": np.array([1.0])})
    opt.learning_rate = 0.01
    opt.step({"w": w}, {"w": np.array([1.0])})
    assert_close(w, [1.0 - 0.1 - 0.01])

    # Adam with ε = 0 and the same g twice: after bias correction m̂ = g and v̂ = g², so each
    # step is exactly lr·sign(g): first the old lr, then the new one.
    opt = O.Adam(learning_rate=0.1, epsilon=0.0)
    w = np.array([0.0])
    opt.step({"w": w}, {"w": np.array([2.0])})
    assert_close(w, [-0.1])
    opt.learning_rate = 0.001
    opt.step({"w": w}, {"w": np.array([2.0])})
    assert_close(w, [-0.101])


# -- 5. hyperparameters, get() and config --------------------------------------------------------


def test_get_by_name_and_instance_and_config_round_trip():
    assert isinstance(O.get("sgd"), O.SGD)
    assert isinstance(O.get("Adam"), O.Adam)
    assert isinstance(O.get("AdamW"), O.AdamW)
    assert isinstance(O.get("RMSPROP"), O.RMSprop)
    assert isinstance(O.get("adadelta"), O.Adadelta)
    opt = O.RMSprop(momentum=0.5)
    assert O.get(opt) is opt
    assert O.get("sgd", learning_rate=0.5, momentum=0.9).get_config() == {
        "learning_rate": 0.5, "momentum": 0.9, "nesterov": False}  # fmt: skip
    for make in ALL:
        original = make()
        assert type(original).__name__.lower() == original.name  # the class name works too
        copy = O.get(original.name, **original.get_config())
        assert type(copy) is type(original)
        assert copy.get_config() == original.get_config()


def test_get_errors():
    names = "'sgd', 'adam', 'adamw', 'rmsprop', 'adadelta'"
    with pytest.raises(ValueError, match=f"'adagrad'.*{names}"):
        O.get("adagrad")
    with pytest.raises(ValueError, match="expected a name"):
        O.get(3)
    with pytest.raises(ValueError, match="set them on the instance"):
        O.get(O.Adam(), learning_rate=0.1)
    with pytest.raises(TypeError):
        O.get("adam", momentum=0.9)  # Adam has no momentum argument


def test_get_config_has_every_hyperparameter():
    assert O.Adam().get_config() == {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                     "epsilon": 1e-7}  # fmt: skip
    assert O.RMSprop().get_config() == {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0,
                                        "epsilon": 1e-7}  # fmt: skip
    assert O.Adadelta().get_config() == {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7}
    assert O.AdamW().get_config() == {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                      "epsilon": 1e-7, "weight_decay": 0.004,
                                      "exclude_from_weight_decay": None}  # fmt: skip
    assert O.AdamW(exclude_from_weight_decay=("bias",)).get_config()[
        "exclude_from_weight_decay"] == ["bias"]  # fmt: skip
    assert O.SGD().get_config() == {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}
    opt = O.SGD()
    opt.learning_rate = 0.5  # a callback's change is what gets saved
    assert opt.get_config()["learning_rate"] == 0.5
    # The config is exactly the constructor's keyword arguments.
    for make in ALL:
        original = make()
        assert type(original)(**original.get_config()).get_config() == original.get_config()


@pytest.mark.parametrize(("make", "message"), [
    (lambda: O.SGD(learning_rate=-0.1), "learning_rate"),
    (lambda: O.SGD(momentum=1.5), "momentum"),
    (lambda: O.Adam(beta_1=1.0), "beta_1"),
    (lambda: O.Adam(epsilon=-1e-7), "epsilon"),
    (lambda: O.RMSprop(rho=-0.1), "rho"),
    (lambda: O.Adadelta(epsilon=0.0), "epsilon must be > 0"),
    (lambda: O.AdamW(weight_decay=-0.01), "adamw: weight_decay must be in"),
    (lambda: O.AdamW(beta_2=1.5), "adamw: beta_2"),
    (lambda: O.AdamW(exclude_from_weight_decay="bias"), r"adamw: exclude_.*got 'bias'"),
    (lambda: O.AdamW(exclude_from_weight_decay=["bias", ""]), "adamw: .*non-empty strings"),
    (lambda: O.AdamW(exclude_from_weight_decay=[3]), "adamw: exclude_from_weight_decay"),
])  # fmt: skip
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# -- 6. optional oracle: PyTorch ---------------------------------------------------------------


# Settings chosen so that the two formulations are the same mathematics:
# * SGD: PyTorch's v' = μ v' + g, p -= lr v' equals Keras's form for a constant lr.
# * Adam and RMSprop: PyTorch adds ε to sqrt(v̂) (Adam) and to sqrt(a) (RMSprop), Keras to
#   sqrt(v) and inside sqrt(a + ε): with ε = 0 both are exactly the same update.
# * AdamW: both decay p by lr·wd before Adam's step (PyTorch as p·(1 − lr·wd), Keras as
#   p − p·wd·lr); with ε = 0 the Adam part is the same as for Adam.
# * Adadelta: identical equations, ε in the same places.
# What remains is the order of floating-point operations, so 20 float64 steps agree to
# rounding error: rtol 1e-10 leaves room for ~1e-16 per operation growing over the steps.
ORACLE_CASES = [
    (O.SGD, dict(learning_rate=0.05, momentum=0.9),
     "SGD", dict(lr=0.05, momentum=0.9)),
    (O.SGD, dict(learning_rate=0.05, momentum=0.9, nesterov=True),
     "SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    (O.Adam, dict(learning_rate=0.01, epsilon=0.0),
     "Adam", dict(lr=0.01, betas=(0.9, 0.999), eps=0.0)),
    (O.AdamW, dict(learning_rate=0.01, weight_decay=0.1, epsilon=0.0),
     "AdamW", dict(lr=0.01, betas=(0.9, 0.999), eps=0.0, weight_decay=0.1)),
    (O.AdamW, dict(learning_rate=0.05, weight_decay=2.0, beta_1=0.5, beta_2=0.9, epsilon=0.0),
     "AdamW", dict(lr=0.05, betas=(0.5, 0.9), eps=0.0, weight_decay=2.0)),
    (O.RMSprop, dict(learning_rate=0.01, rho=0.9, epsilon=0.0),
     "RMSprop", dict(lr=0.01, alpha=0.9, eps=0.0)),
    (O.RMSprop, dict(learning_rate=0.01, rho=0.9, momentum=0.5, epsilon=0.0),
     "RMSprop", dict(lr=0.01, alpha=0.9, eps=0.0, momentum=0.5)),
    (O.Adadelta, dict(learning_rate=1.0, rho=0.9, epsilon=1e-6),
     "Adadelta", dict(lr=1.0, rho=0.9, eps=1e-6)),
]  # fmt: skip


@pytest.mark.oracle
@pytest.mark.parametrize(("cls", "hyper", "torch_name", "torch_kwargs"), ORACLE_CASES,
                         ids=[repr(c(**h)) for c, h, _, _ in ORACLE_CASES])  # fmt: skip
def test_matches_pytorch(cls, hyper, torch_name, torch_kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    p0 = rng.normal(size=(5, 4))
    grads = [rng.normal(size=(5, 4)) for _ in range(20)]

    theirs = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    torch_opt = getattr(torch.optim, torch_name)([theirs], **torch_kwargs)
    for g in grads:
        theirs.grad = torch.tensor(g, dtype=torch.float64)
        torch_opt.step()

    ours, p = cls(**hyper), p0.copy()
    for g in grads:
        ours.step({"p": p}, {"p": g})
    assert_close(p, theirs.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_gives_numpys_array_by_array_update_bit_for_bit(dtype):
    # The one-pass kernel against eq. adam written as NumPy in-place array operations, which
    # round every intermediate in the parameter's dtype: not one bit may differ.
    b1, b2, eps, lr = 0.9, 0.999, 1e-7, 1e-3
    rng = np.random.default_rng(0)
    p = rng.normal(size=(37, 41)).astype(dtype)
    want, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    opt = O.Adam(learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    for t in range(1, 6):
        g = rng.normal(size=p.shape).astype(dtype)
        opt.step({"w": p}, {"w": g})
        m *= b1
        m += g * (1.0 - b1)
        v *= b2
        v += np.square(g) * (1.0 - b2)
        lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        want -= m / (np.sqrt(v) + eps) * lr_t
    assert p.dtype == dtype
    np.testing.assert_array_equal(p, want)
    np.testing.assert_array_equal(opt.slots["momentum"]["w"], m)
    np.testing.assert_array_equal(opt.slots["velocity"]["w"], v)
