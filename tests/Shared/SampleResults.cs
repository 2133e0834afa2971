using System.Text.Json.Nodes;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;

namespace TrapReplace.Tests.Shared;

/// <summary>Result records with every required field set, for report and summary tests.</summary>
internal static class SampleResults
{
    public static CellResult Result(string attack, string defense, int seed, double ca, double asr, Metrics? undefended) => new()
    {
        Dataset = "cifar10", Backbone = "wrn16-1", Attack = attack, Defense = defense, Seed = seed, Profile = "quick", TargetClass = 0,
        PoisonRatio = 0.1, PoisonRatioOf = "WholeTrainingSet", PoisonedCount = 1000, CleanAccuracy = ca, AttackSuccessRate = asr,
        RobustAccuracy = 1 - asr, Undefended = undefended, Der = null, PerClassAccuracy = [], TestCount = 10_000, TriggeredCount = 9_000,
        UntrustedCount = 10_000, HoldoutCount = 2_500, Epochs = new EpochCounts(10, 20), TrainSeconds = 100, Stage1Seconds = 90,
        DefenseSeconds = 10, EvaluationSeconds = 5, ImagesPerSecond = 400, Stage1Reused = false, Curves = [], Options = new JsonObject(),
        Versions = CellRunner.Versions(), Threads = 2, Device = "cpu", FinishedUtc = DateTimeOffset.UnixEpoch,
    };
}
