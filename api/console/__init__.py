"""The unions' console (工会工作台) at /console: server-rendered pages for clerks and planners.

Pages call the same services the JSON API calls, with the signed-in person's Principal, so
both share one authorization rule. One module per area (home: sign-in and out; uploads;
stations; reports; planner; accounts), each with its own ``router``.
"""
