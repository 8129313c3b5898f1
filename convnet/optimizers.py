"""Optimizers: the only code that changes a parameter.

Reading order: ... → losses → **10. optimizers** → model → ... Docs chapter: "Optimizers".

After a backward pass every layer holds the gradient of the loss with respect to each of its
parameters. An optimizer turns the gradients into an update::

    optimizer.step(params, grads)    # two dicts name -> ndarray, same keys, same shapes

``params`` are the model's own arrays, and they are updated *in place* (``p -= ...``), never
rebound: the layers keep referring to the same arrays. Everything beyond plain gradient
descent remembers something about past gradients (a velocity, running averages of ``g`` and
``g²``): that per-parameter *state* is kept in the optimizer, one array per parameter and
slot, keyed by the parameter's name, created (as zeros, with the parameter's shape and dtype)
the first time the parameter is seen. ``iterations`` counts the steps taken. The slots are
named as in Keras (``momentum``, ``velocity``, ``accumulated_grad``, ...), so that they map
one to one onto the optimizer weights of a Keras file.

The update equations are Keras's (Keras 3), so a run here can be compared with a Keras run;
where PyTorch writes the same method differently, the class docstring says how. Notation:
``p`` a parameter, ``g`` its gradient, ``lr`` the learning rate, products and powers taken
entry by entry.

Arithmetic stays in the parameter's dtype: a float32 model keeps float32 parameters and state
(a Python float times a float32 array is a float32 array in NumPy 2). The updates use in-place
operations (``*=``, ``+=``, ``np.sqrt(..., out=...)``) so that a step allocates at most one or
two temporaries the size of the parameter: the dense kernel of the MNIST network alone has
9216 x 128 entries. Adam, which most runs use, goes further: its update is a short Numba
kernel (:mod:`convnet.jit`) that reads like its equations and makes one pass over the
parameter, the gradient and the two slots, where array-by-array NumPy makes a dozen.

For checkpoints, :meth:`Optimizer.state_dict` returns every state array plus ``iterations``,
and :meth:`Optimizer.load_state_dict` puts them back: training then continues bit for bit as
if it had never stopped. :meth:`Optimizer.get_config` gives the hyperparameters.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from convnet.jit import kernel, prange

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "get"]


def _check_range(opt_name: str, arg: str, value, low: float, high: float,
                 high_inclusive: bool = False) -> float:  # fmt: skip
    value = float(value)
    ok = low <= value <= high if high_inclusive else low <= value < high
    if not ok:
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{opt_name}: {arg} must be in [{low}, {high}{bracket}, got {value}")
    return value


class Optimizer:
    """Base class: checks the arguments of :meth:`step`, keeps the state, counts iterations.

    A subclass lists its state slots in ``self.slot_names`` and implements
    ``_update(name, p, g, lr)``, the update of one parameter array ``p`` (in place) from its
    gradient ``g``; :meth:`_slot` hands it the state arrays.

    Attributes
    ----------
    learning_rate : float
        Read at every step, so a callback may change it between steps.
    iterations : int
        Number of steps taken.
    slots : dict of slot name -> dict of parameter name -> ndarray
        The state; each array has the shape and dtype of its parameter.

    Examples
    --------
    >>> opt = SGD(learning_rate=0.1)
    >>> w = np.array([1.0, 2.0])
    >>> opt.step({"w": w}, {"w": np.array([1.0, -1.0])})
    >>> w, opt.iterations
    (array([0.9, 2.1]), 1)
    """

    name = "optimizer"

    def __init__(self, learning_rate: float):
        self.learning_rate = _check_range(self.name, "learning_rate", learning_rate, 0.0, math.inf)
        self.iterations = 0
        self.slot_names: tuple[str, ...] = ()
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    def _init_slots(self, *slot_names: str) -> None:
        self.slot_names = slot_names
        self.slots = {slot: {} for slot in slot_names}

    # -- the step ------------------------------------------------------------------------------

    def step(self, params: dict, grads: dict) -> None:
        """Update every parameter in place from its gradient, then count the step.

        Parameters
        ----------
        params : dict of name -> ndarray
            The model's parameter arrays, modified in place.
        grads : dict of name -> ndarray
            Same keys and shapes as ``params``.

        Examples
        --------
        >>> w = np.ones(3)
        >>> same = w
        >>> SGD(learning_rate=0.5).step({"w": w}, {"w": np.array([1.0, 0.0, -1.0])})
        >>> w, w is same
        (array([0.5, 1. , 1.5]), True)
        """
        self._check(params, grads)
        lr = float(self.learning_rate)  # a NumPy float64 here would promote float32 math
        for name, p in params.items():
            # A float64 gradient of a float32 parameter is rounded once, here, so that all of
            # the update below runs in the parameter's dtype. No copy when dtypes agree.
            g = np.asarray(grads[name], dtype=p.dtype)
            self._update(name, p, g, lr)
        self.iterations += 1

    def _check(self, params: dict, grads: dict) -> None:
        """Validate everything before touching anything: a bad call changes no parameter."""
        missing = [k for k in params if k not in grads]
        extra = [k for k in grads if k not in params]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"no gradient for parameter(s) {missing}")
            if extra:
                parts.append(f"gradient(s) {extra} for no parameter")
            raise ValueError(f"{self.name}.step: {'; '.join(parts)}")
        for name, p in params.items():
            if not isinstance(p, np.ndarray):
                raise ValueError(
                    f"{self.name}.step: parameter {name!r} must be a NumPy array (it is "
                    f"updated in place), got {type(p).__name__}"
                )
            g_shape = np.shape(grads[name])
            if g_shape != p.shape:
                raise ValueError(
                    f"{self.name}.step: parameter {name!r} has shape {p.shape} but its gradient "
                    f"has shape {g_shape}"
                )
            for slot, store in self.slots.items():
                if name in store and store[name].shape != p.shape:
                    raise ValueError(
                        f"{self.name}.step: parameter {name!r} has shape {p.shape} but the "
                        f"optimizer's {slot!r} state for it has shape {store[name].shape} "
                        "(was a state dict from another model loaded?)"
                    )

    def _slot(self, slot: str, name: str, p: np.ndarray) -> np.ndarray:
        """The ``slot`` state array of parameter ``name``, created as zeros on first use."""
        store = self.slots[slot]
        arr = store.get(name)
        if arr is None:
            arr = store[name] = np.zeros_like(p)
        elif arr.dtype != p.dtype:  # e.g. a float64 checkpoint resumed in a float32 model
            arr = store[name] = arr.astype(p.dtype)
        return arr

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    # -- saving and restoring ------------------------------------------------------------------

    def get_config(self) -> dict:
        """The hyperparameters: the constructor's keyword arguments, with current values.

        ``get(opt.name, **opt.get_config())`` builds an equal optimizer (without its state).

        Examples
        --------
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> opt.name, opt.get_config()
        ('sgd', {'learning_rate': 0.1, 'momentum': 0.9, 'nesterov': False})
        """
        return {"learning_rate": float(self.learning_rate)}

    def state_dict(self) -> dict:
        """Copies of every state array, keyed ``'<parameter name>/<slot>'``, and
        ``'iterations'`` (a 0-d int64 array). Everything a checkpoint needs besides
        :meth:`get_config`.

        Examples
        --------
        >>> opt = Adam()
        >>> opt.step({"dense/bias": np.zeros(2)}, {"dense/bias": np.ones(2)})
        >>> sorted(opt.state_dict())
        ['dense/bias/momentum', 'dense/bias/velocity', 'iterations']
        """
        state = {
            f"{name}/{slot}": arr.copy()
            for slot, store in self.slots.items()
            for name, arr in store.items()
        }
        state["iterations"] = np.array(self.iterations, dtype=np.int64)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Replace the whole state with (copies of) the arrays of :meth:`state_dict`.

        Examples
        --------
        >>> a, b = Adam(), Adam()
        >>> a.step({"w": np.zeros(2)}, {"w": np.ones(2)})
        >>> b.load_state_dict(a.state_dict())
        >>> b.iterations, b.slots["velocity"]["w"]
        (1, array([0.001, 0.001]))
        """
        if "iterations" not in state:
            raise ValueError(f"{self.name}.load_state_dict: the state has no 'iterations' entry")
        slots: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slot_names}
        for key, arr in state.items():
            if key == "iterations":
                continue
            # Parameter names contain '/' themselves ('dense/kernel'); slot names never do.
            name, _, slot = key.rpartition("/")
            if not name or slot not in slots:
                raise ValueError(
                    f"{self.name}.load_state_dict: unexpected entry {key!r}; expected "
                    f"'<parameter name>/<slot>' with a slot in {list(self.slot_names)}"
                )
            slots[slot][name] = np.array(arr, copy=True)
        self.slots = slots
        self.iterations = int(state["iterations"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With ``momentum = 0`` (eq. sgd), no state::

        p ← p − lr · g

    With momentum ``μ`` (eq. sgd-momentum), one slot ``momentum`` holding the velocity ``v``::

        v ← μ · v − lr · g
        p ← p + v

    With ``nesterov=True`` the parameter takes the step it would take after one more step
    of the same velocity (eq. sgd-nesterov)::

        v ← μ · v − lr · g
        p ← p + μ · v − lr · g          (with the new v)

    PyTorch keeps ``v' = μ v' + g`` and steps ``p ← p − lr v'``: the same trajectory while the
    learning rate is constant (``v = −lr · v'``), but not when it changes mid-run.

    Parameters
    ----------
    learning_rate : float
    momentum : float, in [0, 1]
    nesterov : bool

    Examples
    --------
    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> w = np.array([1.0])
    >>> for _ in range(2):
    ...     opt.step({"w": w}, {"w": np.array([1.0])})
    >>> w                                   # 1 - 0.1, then - (0.9·0.1 + 0.1)
    array([0.71])
    """

    name = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = _check_range(self.name, "momentum", momentum, 0.0, 1.0,
                                     high_inclusive=True)  # fmt: skip
        self.nesterov = bool(nesterov)
        if self.momentum > 0.0:
            self._init_slots("momentum")

    def _update(self, name, p, g, lr):
        if self.momentum == 0.0:
            p -= lr * g  # eq. sgd
            return
        mu = self.momentum
        v = self._slot("momentum", name, p)
        lr_g = lr * g  # the one temporary
        v *= mu
        v -= lr_g  # eq. sgd-momentum: v ← μ v − lr g
        if self.nesterov:
            p -= lr_g  # eq. sgd-nesterov: p ← p + μ v − lr g
            np.multiply(v, mu, out=lr_g)  # reuse the temporary for μ v
            p += lr_g
        else:
            p += v

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam: momentum on ``g`` and a per-entry step size from the running mean of ``g²``.

    Two slots, ``momentum`` (``m``, first moment) and ``velocity`` (``v``, second moment),
    and the step number ``t = iterations + 1`` (eq. adam)::

        m ← β1 · m + (1 − β1) · g
        v ← β2 · v + (1 − β2) · g²
        lr_t = lr · sqrt(1 − β2^t) / (1 − β1^t)
        p ← p − lr_t · m / (sqrt(v) + ε)

    ``m`` and ``v`` start at zero and so are biased towards it early on; dividing by
    ``1 − β^t`` undoes that bias, and folding the two corrections into ``lr_t`` saves work. The
    first step is therefore about ``lr · sign(g)`` whatever the scale of ``g``.

    Keras's ``ε`` (this one) is added to ``sqrt(v)``; Kingma & Ba's and PyTorch's ``ε`` is added
    to ``sqrt(v / (1 − β2^t))``. The two agree when ``ε = 0`` and differ by
    ``ε_pytorch = ε / sqrt(1 − β2^t)`` otherwise.

    Parameters
    ----------
    learning_rate : float
    beta_1, beta_2 : float, in [0, 1)
        Decay rates of the running means of ``g`` and ``g²``.
    epsilon : float, ≥ 0
        Keeps the division finite where ``v`` is 0.

    Examples
    --------
    >>> opt = Adam(learning_rate=0.1)
    >>> w = np.array([1.0, 1.0])
    >>> opt.step({"w": w}, {"w": np.array([1000.0, -0.1])})
    >>> np.round(w, 4)                    # 1 ∓ lr for both: the scale of g is gone
    array([0.9, 1.1])
    """

    name = "adam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):  # fmt: skip
        super().__init__(learning_rate)
        self.beta_1 = _check_range(self.name, "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_range(self.name, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_range(self.name, "epsilon", epsilon, 0.0, math.inf)
        self._init_slots("momentum", "velocity")

    def _update(self, name, p, g, lr):
        b1, b2 = self.beta_1, self.beta_2
        m = self._slot("momentum", name, p)
        v = self._slot("velocity", name, p)
        t = self.iterations + 1
        lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        # One pass over the four arrays (a dense kernel of 1.2 M entries is 19 MB of them in
        # float32), with every constant in the parameter's dtype, as NumPy would use it.
        c = p.dtype.type
        with _flat_in_place(p, m, v) as (p_flat, m_flat, v_flat):
            _adam_kernel(p_flat, np.ascontiguousarray(g).reshape(-1), m_flat, v_flat, c(b1),
                         c(1.0 - b1), c(b2), c(1.0 - b2), c(lr_t), c(self.epsilon))  # fmt: skip

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}  # fmt: skip


@kernel(parallel=True)
def _adam_kernel(p, g, m, v, b1, one_minus_b1, b2, one_minus_b2, lr_t, eps):
    """Eq. adam, entry by entry, on flat arrays. The operations are those of the equations,
    in their order, so that the result is the same, bit for bit, as NumPy's array by array."""
    for i in prange(p.shape[0]):
        m[i] = m[i] * b1 + g[i] * one_minus_b1
        v[i] = v[i] * b2 + (g[i] * g[i]) * one_minus_b2
        p[i] -= m[i] / (np.sqrt(v[i]) + eps) * lr_t


@contextlib.contextmanager
def _flat_in_place(*arrays):
    """Flat views of ``arrays`` for a kernel to update; an array that is not contiguous (a
    slice of a bigger one, say) is updated through a flat copy, written back at the end."""
    work = [a if a.flags.c_contiguous else a.copy() for a in arrays]
    yield [w.reshape(-1) for w in work]
    for a, w in zip(arrays, work, strict=True):
        if w is not a:
            a[...] = w


class AdamW(Adam):
    """Adam with decoupled weight decay: every step also shrinks the weights towards zero.

    Before Adam's update of each step (eq. adam, same slots ``momentum`` and ``velocity``),
    each decayed parameter loses a fraction ``lr · weight_decay`` of itself (eq. adamw)::

        p ← p − lr · weight_decay · p
        p ← p − lr_t · m / (sqrt(v) + ε)        (Adam, m and v from g alone)

    Why not add the L2 penalty ``(weight_decay / 2) · |p|²`` to the loss instead, i.e.
    ``g + weight_decay · p`` for ``g``? In plain SGD the two are the same step. In Adam the
    penalty's gradient goes through ``m / sqrt(v)`` with the rest, so entries with large
    gradients (large ``v``) are hardly decayed and entries with small ones are decayed hard.
    Decoupled decay shrinks every weight by the same fraction, whatever its gradient history
    (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019).

    This is Keras 3's ``keras.optimizers.AdamW``: the decay ``p − p · weight_decay · lr`` uses
    the step's learning rate and comes before the Adam update of the same step. PyTorch's
    ``torch.optim.AdamW`` multiplies ``p`` by ``1 − lr · weight_decay``: the same decay, also
    scaled by ``lr`` and also first; its ``ε`` differs as in :class:`Adam`, and its default
    ``weight_decay`` is 0.01 (Keras's 0.004). The paper scales the decay by the schedule's
    multiplier ``η_t`` alone, not by the learning rate: its ``λ`` is ``base learning rate ·
    weight_decay`` here, so with a schedule both shrink together.

    Parameters
    ----------
    learning_rate : float
    weight_decay : float, ≥ 0
        Fraction of each weight removed per step, per unit of learning rate. 0 gives Adam.
    beta_1, beta_2 : float, in [0, 1)
    epsilon : float, ≥ 0
    exclude_from_weight_decay : list of str, optional
        Parameters whose name (``'dense_1/bias'``, ``'batch_normalization/gamma'``) contains
        any of these strings are not decayed, e.g. ``["bias", "gamma", "beta"]``; Adam still
        updates them. Left out, every parameter is decayed, as in Keras. (Keras's
        ``exclude_from_weight_decay(var_names=...)`` reads the strings as regular expressions
        and searches Keras 3's short variable name, ``'bias'``; plain words behave the same.)

    Examples
    --------
    With a zero gradient Adam's step is 0, and only the decay is left: 1 − 0.1 · 0.5.

    >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5, exclude_from_weight_decay=["bias"])
    >>> kernel, bias = np.array([2.0, -4.0]), np.array([2.0])
    >>> opt.step({"dense/kernel": kernel, "dense/bias": bias},
    ...          {"dense/kernel": np.zeros(2), "dense/bias": np.zeros(1)})
    >>> kernel, bias
    (array([ 1.9, -3.8]), array([2.]))
    """

    name = "adamw"

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 exclude_from_weight_decay=None):  # fmt: skip
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
        self.weight_decay = _check_range(self.name, "weight_decay", weight_decay, 0.0, math.inf)
        self.exclude_from_weight_decay = _name_parts(self.name, "exclude_from_weight_decay",
                                                     exclude_from_weight_decay)  # fmt: skip

    def decays(self, name: str) -> bool:
        """Whether the parameter called ``name`` is decayed.

        Examples
        --------
        >>> opt = AdamW(exclude_from_weight_decay=["bias", "gamma"])
        >>> opt.decays("conv2d/kernel"), opt.decays("dense_1/bias")
        (True, False)
        """
        return not any(part in name for part in self.exclude_from_weight_decay or ())

    def _update(self, name, p, g, lr):
        if self.weight_decay > 0.0 and self.decays(name):
            # eq. adamw, written p − (lr·wd)·p as Keras does rather than p·(1 − lr·wd): in
            # float32, 1 − 4e-6 keeps only about two digits of the 4e-6 that is decayed.
            p -= p * (lr * self.weight_decay)
        super()._update(name, p, g, lr)

    def get_config(self) -> dict:
        exclude = self.exclude_from_weight_decay
        exclude = None if exclude is None else list(exclude)  # a list, as JSON gives it back
        return {**super().get_config(), "weight_decay": self.weight_decay,
                "exclude_from_weight_decay": exclude}  # fmt: skip


def _name_parts(opt_name: str, arg: str, value) -> tuple[str, ...] | None:
    """None, or a tuple of non-empty strings; a bare string is refused (its letters would be
    taken one by one, and 'bias' would then exclude every name with an 'a' in it)."""
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{opt_name}: {arg} must be a list of non-empty strings, parts of "
                         f"parameter names such as ['bias'], got {value!r}")  # fmt: skip
    return tuple(value)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by the root of a running mean of its square.

    One slot ``velocity`` (``a``, the running mean of ``g²``), plus ``momentum`` (``b``) when
    ``momentum > 0`` (eq. rmsprop)::

        a ← ρ · a + (1 − ρ) · g²
        p ← p − lr · g / sqrt(a + ε)

    and with momentum ``μ``::

        b ← μ · b + lr · g / sqrt(a + ε)
        p ← p − b

    ``ε`` sits *inside* the square root, as in Keras 3 (and TensorFlow's RMSProp kernel).
    PyTorch (and Hinton's slides) write ``sqrt(a) + ε``; the two agree when ``ε = 0``. The
    difference matters when ``a`` is not much larger than ``ε``: for ``a = 1e-6`` and
    ``ε = 1e-7`` the steps differ by 5 %.

    Parameters
    ----------
    learning_rate : float
    rho : float, in [0, 1)
        Decay rate of the running mean of ``g²``.
    momentum : float, in [0, 1]
    epsilon : float, ≥ 0

    Examples
    --------
    >>> opt = RMSprop(learning_rate=0.01, epsilon=0.0)
    >>> w = np.array([1.0, 1.0])
    >>> opt.step({"w": w}, {"w": np.array([50.0, -0.5])})
    >>> w                       # a = 0.1 g², so each entry moves lr / sqrt(0.1) = 0.0316...
    array([0.96837722, 1.03162278])
    """

    name = "rmsprop"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7):  # fmt: skip
        super().__init__(learning_rate)
        self.rho = _check_range(self.name, "rho", rho, 0.0, 1.0)
        self.momentum = _check_range(self.name, "momentum", momentum, 0.0, 1.0,
                                     high_inclusive=True)  # fmt: skip
        self.epsilon = _check_range(self.name, "epsilon", epsilon, 0.0, math.inf)
        if self.momentum > 0.0:
            self._init_slots("velocity", "momentum")
        else:
            self._init_slots("velocity")

    def _update(self, name, p, g, lr):
        rho = self.rho
        a = self._slot("velocity", name, p)
        tmp = np.square(g)  # the one temporary
        tmp *= 1.0 - rho
        a *= rho
        a += tmp
        np.add(a, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= lr  # tmp = lr · g / sqrt(a + ε)
        if self.momentum > 0.0:
            b = self._slot("momentum", name, p)
            b *= self.momentum
            b += tmp
            p -= b
        else:
            p -= tmp

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon}  # fmt: skip


class Adadelta(Optimizer):
    """Adadelta: a step whose units match the parameter's, from two running means.

    Two slots: ``accumulated_grad`` (``E[g²]``) and ``accumulated_delta_var`` (``E[Δ²]``, the
    running mean of the squared steps). With ``RMS[x] = sqrt(E[x²] + ε)`` (eq. adadelta)::

        E[g²] ← ρ · E[g²] + (1 − ρ) · g²
        Δ     = − RMS[Δ] / RMS[g] · g              (RMS[Δ] from before this step)
        E[Δ²] ← ρ · E[Δ²] + (1 − ρ) · Δ²
        p     ← p + lr · Δ

    Zeiler's paper has no learning rate (``lr = 1``); Keras adds one and defaults it to 0.001,
    which makes Adadelta slow: pass ``learning_rate=1.0`` for the paper's method. PyTorch's
    Adadelta is the same (it writes ``p ← p − lr · (−Δ)``), ε in the same places.

    The first steps are about ``sqrt(ε)`` in size (``E[Δ²]`` starts at 0): ``ε`` sets the
    initial step size here, not just a guard against division by zero.

    Parameters
    ----------
    learning_rate : float
    rho : float, in [0, 1)
    epsilon : float, > 0

    Examples
    --------
    >>> opt = Adadelta(learning_rate=1.0, rho=0.5, epsilon=1e-4)
    >>> w = np.array([0.0])
    >>> opt.step({"w": w}, {"w": np.array([1.0])})
    >>> np.round(w, 8)           # Δ = -sqrt(1e-4) / sqrt(0.5 + 1e-4)
    array([-0.01414072])
    """

    name = "adadelta"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-7):
        super().__init__(learning_rate)
        self.rho = _check_range(self.name, "rho", rho, 0.0, 1.0)
        self.epsilon = _check_range(self.name, "epsilon", epsilon, 0.0, math.inf)
        if self.epsilon == 0.0:
            raise ValueError(
                f"{self.name}: epsilon must be > 0 (with epsilon = 0 the first step, and "
                "every later one, is 0)"
            )
        self._init_slots("accumulated_grad", "accumulated_delta_var")

    def _update(self, name, p, g, lr):
        rho, eps = self.rho, self.epsilon
        eg2 = self._slot("accumulated_grad", name, p)
        edx2 = self._slot("accumulated_delta_var", name, p)
        tmp = np.square(g)  # temporary 1
        tmp *= 1.0 - rho
        eg2 *= rho
        eg2 += tmp  # E[g²] updated
        delta = np.add(edx2, eps)  # temporary 2
        np.sqrt(delta, out=delta)  # RMS[Δ], from the previous steps
        delta *= g
        np.add(eg2, eps, out=tmp)
        np.sqrt(tmp, out=tmp)  # RMS[g], including this step
        delta /= tmp
        np.negative(delta, out=delta)  # Δ
        np.square(delta, out=tmp)
        tmp *= 1.0 - rho
        edx2 *= rho
        edx2 += tmp  # E[Δ²] updated
        delta *= lr
        p += delta

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adadelta": Adadelta}


def get(identifier, **kwargs) -> Optimizer:
    """An optimizer from a name or an instance.

    Parameters
    ----------
    identifier : str or Optimizer
        ``'sgd'``, ``'adam'``, ``'adamw'``, ``'rmsprop'`` or ``'adadelta'`` (any case); or an
        instance, returned as it is.
    **kwargs
        Hyperparameters for a name (``learning_rate=...``, ``momentum=...``), e.g. the
        dict of :meth:`Optimizer.get_config`.

    Returns
    -------
    Optimizer

    Examples
    --------
    >>> get("Adam", learning_rate=0.01)
    Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-07)
    >>> saved = SGD(momentum=0.9)
    >>> get(saved.name, **saved.get_config())
    SGD(learning_rate=0.01, momentum=0.9, nesterov=False)
    >>> get("adagrad")
    Traceback (most recent call last):
    ...
    ValueError: unknown optimizer 'adagrad'; choose one of 'sgd', 'adam', 'adamw', 'rmsprop', 'adadelta'
    """  # noqa: E501
    if isinstance(identifier, Optimizer):
        if kwargs:
            raise ValueError(
                f"optimizers.get: got an {type(identifier).__name__} instance and also "
                f"hyperparameters {sorted(kwargs)}; set them on the instance instead"
            )
        return identifier
    valid = ", ".join(repr(k) for k in _BY_NAME)
    if not isinstance(identifier, str):
        raise ValueError(
            f"optimizers.get: expected a name ({valid}) or an Optimizer, got {identifier!r}"
        )
    cls = _BY_NAME.get(identifier.lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {identifier!r}; choose one of {valid}")
    return cls(**kwargs)
