from msm.cli import app

app(prog_name="msm")
