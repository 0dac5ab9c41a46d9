"""A plan as a plain dict (it goes to JSON as is) that also renders in a notebook."""

from __future__ import annotations


class Plan(dict):
    """A plan is a plain dict (it goes to JSON as is) that also renders in a notebook."""

    def _repr_markdown_(self) -> str:
        mesh = " × ".join(f"{axis}={degree}" for axis, degree in self["mesh"].items())
        rows = [("mesh", mesh), ("bound", self["bound"]), ("step time", f"{self['step_time_s']:.4g} s"),
                ("t_math", f"{self['t_math_s']:.4g} s"), ("t_comms", f"{self['t_comms_s']:.4g} s"),
                ("memory per chip", f"{self['memory_per_chip_bytes'] / 1e9:.3g} GB"),
                ("chips used", f"{self['chips_used']} of {self['chips']}")]
        if self.get("mesh_x_opt") is not None:
            rows.append(("X_opt of this mesh (unrounded)", f"{self['mesh_x_opt']:.4g}"))
        return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])

    def _repr_html_(self) -> str:
        """The chosen mesh and its numbers, why it won, and the runners-up."""
        from ..core import markup

        rows = [("mesh", " × ".join(f"{axis}={degree}" for axis, degree in self["mesh"].items())),
                ("strategy", self.get("strategy", "")), ("bound", self["bound"]),
                ("step time", markup.number_html(self["step_time_s"], "s")),
                ("t_math", markup.number_html(self["t_math_s"], "s")),
                ("t_comms", markup.number_html(self["t_comms_s"], "s")),
                ("memory per chip", markup.number_html(self["memory_per_chip_bytes"], "B")),
                ("chips used", f"{self['chips_used']} of {self['chips']}")]
        if self.get("mesh_x_opt") is not None:
            rows.append(("X_opt of this mesh (unrounded)", markup.number_html(self["mesh_x_opt"])))
        parts = [markup.table(rows)]
        if self.get("explanation"):
            parts.append("<ul>" + "".join(f"<li>{markup.text(line)}</li>" for line in self["explanation"]) + "</ul>")
        alternatives = [[a["strategy"], " × ".join(f"{k}={v}" for k, v in a["mesh"].items()),
                         markup.number_html(a["step_time_s"], "s"), a["bound"]] for a in self.get("alternatives", [])]
        if alternatives:
            parts.append(markup.table(alternatives, ["next best", "mesh", "step time", "bound"]))
        return markup.block("plan", *parts)

    def _repr_latex_(self) -> str:
        body = r" \\ ".join(rf"\text{{{k}}} & \text{{{v}}}" for k, v in (
            ("mesh", " x ".join(f"{a}={d}" for a, d in self["mesh"].items())),
            ("bound", self["bound"]), ("step", f"{self['step_time_s']:.4g} s")))
        return rf"$$\begin{{array}}{{ll}} {body} \end{{array}}$$"
