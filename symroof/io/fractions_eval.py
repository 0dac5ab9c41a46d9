"""Expressions evaluated in Python fractions: exact sums, products and whole powers of card and
run numbers, without SymPy arithmetic (whose first use imports much of SymPy lazily)."""

from __future__ import annotations

from fractions import Fraction


def _rational(expr, values: dict) -> Fraction | None:
    """The exact value of a sum of products of powers of numbers and given symbols, computed with
    Python fractions (no SymPy arithmetic, so none of its lazy imports); None for anything else."""
    if expr.is_Rational:
        return Fraction(int(expr.p), int(expr.q))
    if expr.is_Symbol:
        v = values.get(expr)
        if v is None:
            return None
        v = v if isinstance(v, (int, Fraction)) else (Fraction(int(v.p), int(v.q)) if getattr(v, "is_Rational", False) else None)
        return None if v is None or isinstance(v, bool) else Fraction(v)
    parts = [_rational(a, values) for a in expr.args] if expr.is_Add or expr.is_Mul or expr.is_Pow else None
    if not parts or any(x is None for x in parts):
        return None
    if expr.is_Add:
        return sum(parts, Fraction(0))
    if expr.is_Mul:
        out = Fraction(1)
        for x in parts:
            out *= x
        return out
    base, power = parts        # a whole power only: roots stay SymPy's
    if power.denominator != 1 or (base == 0 and power < 0):
        return None
    return base ** int(power)


def to_float(expr, values: dict) -> float:
    """``float(evaluate(expr, values))``: sums, products and whole powers exact in fractions, a
    root or a Max/Min of them taken in floats at the last step (no SymPy arithmetic)."""
    got = real(expr, values)
    if got is None:
        from .bind import evaluate

        return float(evaluate(expr, values))
    return float(got)


def real(expr, values: dict):
    """A Fraction, a float where a root was taken, or None for anything else."""
    if expr.is_Rational or expr.is_Symbol:
        return _rational(expr, values)
    name = type(expr).__name__
    if not (expr.is_Add or expr.is_Mul or expr.is_Pow or name in ("Max", "Min")):
        return None
    parts = [real(a, values) for a in expr.args]
    if not parts or any(x is None for x in parts):
        return None
    if expr.is_Add:
        return sum(parts[1:], parts[0])
    if expr.is_Mul:
        out = parts[0]
        for x in parts[1:]:
            out = out * x
        return out
    if name in ("Max", "Min"):
        return max(parts) if name == "Max" else min(parts)
    base, power = parts
    if isinstance(power, Fraction) and power.denominator == 1:
        return None if base == 0 and power < 0 else base ** int(power)
    return float(base) ** float(power) if base > 0 else None


class Polynomial:
    """A sum of terms ``c · Π s^e`` (rational ``c``, symbols ``s``, whole ``e`` of either sign),
    read once from a SymPy expression and evaluated many times in Python integers: exact, and
    far cheaper than substituting into the expression. ``of`` returns None for anything else."""

    __slots__ = ("terms",)

    def __init__(self, terms: tuple):
        self.terms = terms            # (numerator, denominator, ((symbol, e > 0), ...), ((symbol, -e), ...))

    @classmethod
    def of(cls, expr) -> "Polynomial | None":
        terms = _terms(expr)
        if terms is None:
            return None
        out = []
        for coeff, powers in terms:
            up = tuple((s, e) for s, e in powers.items() if e > 0)
            down = tuple((s, -e) for s, e in powers.items() if e < 0)
            out.append((coeff.numerator, coeff.denominator, up, down))
        return cls(tuple(out))

    def value(self, values: dict):
        """The exact value (SymPy Integer or Rational) with ``values`` (symbol -> int or Fraction);
        None if a symbol has no value."""
        import sympy as sp

        got = self.exact(values)
        if got is None:
            return None
        return sp.Integer(got) if type(got) is int else sp.Rational(got.numerator, got.denominator)

    def exact(self, values: dict):
        """The exact value as a Python int, or a Fraction when it is not whole; None if a symbol
        has no value."""
        total, common = 0, 1
        try:
            for num, den, up, down in self.terms:
                for s, e in up:
                    num *= values[s] if e == 1 else values[s] ** e
                for s, e in down:
                    den *= values[s] if e == 1 else values[s] ** e
                if den == common:
                    total += num
                else:
                    total, common = total * den + num * common, common * den
        except KeyError:
            return None
        if type(total) is int and type(common) is int:     # the usual case: no Fraction to normalise
            whole, rest = divmod(total, common)
            if not rest:
                return whole
        got = Fraction(total, common)
        return got.numerator if got.denominator == 1 else got


def _terms(expr) -> list | None:
    """``expr`` multiplied out as [(coefficient, {symbol: exponent})], or None when it is not a
    sum of products of whole powers of symbols (a root, a Max, a symbol's non-integer power)."""
    if expr.is_Rational:
        return [(Fraction(int(expr.p), int(expr.q)), {})]
    if expr.is_Symbol:
        return [(Fraction(1), {expr: 1})]
    if expr.is_Add:
        out = []
        for arg in expr.args:
            part = _terms(arg)
            if part is None:
                return None
            out += part
        return out
    if expr.is_Pow and expr.exp.is_Integer and expr.base.is_Symbol:
        return [(Fraction(1), {expr.base: int(expr.exp)})]
    if expr.is_Mul:
        monomial = _monomial(expr)
        if monomial is not None:
            return [monomial]
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        factors = (expr.base,) * int(expr.exp)          # a whole power of a sum: multiplied out
    elif expr.is_Mul:
        factors = expr.args
    else:
        return None
    out = [(Fraction(1), {})]
    for factor in factors:
        part = _terms(factor)
        if part is None:
            return None
        out = [(c1 * c2, _times(p1, p2)) for c1, p1 in out for c2, p2 in part]
    return out


def _monomial(expr) -> tuple | None:
    """A product of a rational and whole powers of symbols (most per-chip costs) as one term,
    read in one pass; None when a factor is anything else (a sum to multiply out)."""
    coeff, powers = Fraction(1), {}
    for factor in expr.args:
        if factor.is_Rational:
            coeff *= Fraction(int(factor.p), int(factor.q))
        elif factor.is_Symbol:
            powers[factor] = powers.get(factor, 0) + 1
        elif factor.is_Pow and factor.base.is_Symbol and factor.exp.is_Integer:
            powers[factor.base] = powers.get(factor.base, 0) + int(factor.exp)
        else:
            return None
    return coeff, {s: e for s, e in powers.items() if e}


def _times(a: dict, b: dict) -> dict:
    out = dict(a)
    for s, e in b.items():
        out[s] = out.get(s, 0) + e
        if not out[s]:
            del out[s]
    return out


class Polynomials:
    """Many ``Polynomial``s evaluated together, as a sharded family's per-chip costs are for each
    run: each symbol looked up once per call (a SymPy symbol's hash is a Python call) and each
    distinct product of powers computed once, then each polynomial summed from those. Exact, so
    the values are ``Polynomial.exact``'s, whatever the grouping; None for a polynomial that is
    None (not a polynomial) or names a symbol without a value."""

    __slots__ = ("symbols", "monomials", "polys")

    def __init__(self, polys: list):
        index: dict = {}          # symbol -> its position in ``symbols``
        products: dict = {}       # (up, down) by position -> its position in ``monomials``

        def monomial(up, down) -> int:
            key = (tuple((index.setdefault(s, len(index)), e) for s, e in up),
                   tuple((index.setdefault(s, len(index)), e) for s, e in down))
            return products.setdefault(key, len(products))
        self.polys = [None if p is None else tuple((num, den, monomial(up, down)) for num, den, up, down in p.terms)
                      for p in polys]
        self.symbols = tuple(index)
        self.monomials = tuple(products)

    def exact(self, values: dict) -> list:
        get = values.get
        vals = [get(s) for s in self.symbols]
        products = []
        for up, down in self.monomials:
            num = den = 1
            try:
                for i, e in up:
                    num *= vals[i] if e == 1 else vals[i] ** e
                for i, e in down:
                    den *= vals[i] if e == 1 else vals[i] ** e
            except TypeError:          # a symbol without a value (None)
                num = None
            products.append((num, den))
        out = []
        for terms in self.polys:
            if terms is None:
                out.append(None)
                continue
            total, common = 0, 1
            for num, den, m in terms:
                pn, pd = products[m]
                if pn is None:
                    total = None
                    break
                num, den = num * pn, den * pd
                if den == common:
                    total += num
                else:
                    total, common = total * den + num * common, common * den
            if total is None:
                out.append(None)
            elif type(total) is int and type(common) is int and not total % common:
                out.append(total // common)
            else:
                got = Fraction(total, common)
                out.append(got.numerator if got.denominator == 1 else got)
        return out
