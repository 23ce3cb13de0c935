"""Order of one day's visits: a round trip from the station, solved with OR-Tools."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from ortools.constraint_solver import pywrapcp, routing_enums_pb2


def round_trip_order(matrix: NDArray, *, improve_solutions: int = 0) -> list[int]:
    """Visiting order of nodes 1..n-1 for a tour that starts and ends at node 0.

    `matrix` holds integer travel costs (metres: at one constant speed, time is proportional
    to distance, so the order is the same). The search stops at a local optimum of
    OR-Tools' move operators (2-opt, or-opt, relocate, exchange…); `improve_solutions > 0`
    adds a guided local search bounded by that many solutions. Both limits count work, not
    seconds, so the same input always gives the same order.
    """
    n = len(matrix)
    if n <= 3:
        return list(range(1, n))
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    model = pywrapcp.RoutingModel(manager)
    transit = model.RegisterTransitMatrix(np.asarray(matrix, dtype=np.int64).tolist())
    model.SetArcCostEvaluatorOfAllVehicles(transit)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    if improve_solutions > 0:
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
        params.solution_limit = improve_solutions
    solution = model.SolveWithParameters(params)
    if solution is None:
        raise RuntimeError("no route found")
    order: list[int] = []
    index = solution.Value(model.NextVar(model.Start(0)))
    while not model.IsEnd(index):
        order.append(manager.IndexToNode(index))
        index = solution.Value(model.NextVar(index))
    return order
