using System.Text.Json.Nodes;
using TrapReplace.Experiments.Results;
using TrapReplace.Tests.Shared;

namespace TrapReplace.Cli.Tests;

public sealed class SummaryLineTests
{
    [Fact]
    public void The_summary_shows_the_trapped_and_the_replaced_head_side_by_side_with_the_scan()
    {
        var result = SampleResults.Result("blend", "trap-replace", 0, 0.801, 0.031, new Metrics(0.823, 1.0, 0.0)) with
        {
            Der = 0.97,
            Options = new JsonObject
            {
                ["defense"] = new JsonObject
                {
                    ["scan"] = new JsonObject { ["suspects"] = 4800, ["inferred_target"] = 0, ["target_correct"] = true, ["precision"] = 0.95, ["recall"] = 0.96 },
                },
            },
        };

        var lines = TrapReplace.Cli.CommandLine.Summary(result, "r.json").Split(Environment.NewLine);

        lines[1].Should().StartWith("  trapped head (undefended)").And.Contain("CA  82.3 %").And.Contain("ASR 100.0 %");
        lines[2].Should().StartWith("  replaced head (defended)").And.Contain("CA  80.1 %").And.Contain("ASR   3.1 %").And.Contain("DER 0.970");
        lines[3].Should().Be("  poison scan: 4800 suspects of 10000, inferred target 0 (right); against the true poison, measured after the defense: precision 0.950, recall 0.960");
    }
}
