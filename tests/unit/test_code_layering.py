"""The shape of the code: no import cycles, and no module writing another object's private attributes."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "scanfit"
# An object's own constructor may set its private attributes under another name than self.
OWN_CONSTRUCTION = {("optimizers.py", "number"), ("base.py", "layer")}  # LearningRate.__new__, Layer.__new__
# Keras's own attribute on arrays (the mask an eager layer output carries, read by the next layer and by users
# as Keras 3's guides print it): a name Keras fixed, not another object's private state.
KERAS_ARRAY_ATTRIBUTES = {"_keras_mask"}


def _modules():
    """{module name: parsed file} for every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = (path, ast.parse(path.read_text()))
    return found


def _import_graph(modules):
    """{module: modules it imports}, counting imports inside functions too (they hide cycles, not remove them)."""
    def owner(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {name: set() for name in modules}
    for name, (path, tree) in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            graph[name].update(target for target in map(owner, targets) if target and target != name)
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_back_through_others():
    graph = _import_graph(_modules())
    assert "scanfit.saving.config" in graph["scanfit.layers.wrappers"]  # the graph sees real imports
    assert _cycle(graph) is None


def test_no_module_writes_a_private_attribute_of_another_object():
    offences = []
    for name, (path, tree) in _modules().items():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AugAssign, ast.AnnAssign)) else []
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr.startswith("_")
                        and not target.attr.startswith("__") and target.attr not in KERAS_ARRAY_ATTRIBUTES and not (
                            isinstance(target.value, ast.Name) and (target.value.id in ("self", "cls")
                                                                    or (path.name, target.value.id) in OWN_CONSTRUCTION))):
                    offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(target)}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                    and str(node.args[1].value).startswith("_")):
                offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}")
    assert offences == []
