using Microsoft.Extensions.Logging;

namespace TrapReplace.Peers;

/// <summary>Source-generated log messages of the peer defenses (stable event ids 1100-1199).</summary>
internal static partial class PeerLog
{
    // 1100 and 1101 (starting, epoch done) are no longer used: every loop over epochs logs them through TrainingLog (EpochLoop).

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "fine-pruning: pruned {Pruned} of {Channels} classifier input channels; validation accuracy {PrunedAccuracy:P2} (unpruned {Unpruned:P2}, floor {Floor:P2})")]
    public static partial void PruningChosen(ILogger logger, int pruned, int channels, double prunedAccuracy, double unpruned, double floor);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Information, Message = "abl: isolated {Isolated} of {Samples} training samples (loss at most {Threshold:G4})")]
    public static partial void Isolated(ILogger logger, int isolated, int samples, double threshold);

    // 1104 and 1105 (cancelled, diverged) are no longer used: every training loop logs them through TrainingLog.

    [LoggerMessage(EventId = 1106, Level = LogLevel.Information, Message = "anp: pruned {Pruned} of {Neurons} neurons (mask below {Threshold:G3}); validation accuracy {Accuracy:P2} (unpruned {Unpruned:P2})")]
    public static partial void NeuronsPruned(ILogger logger, int pruned, int neurons, double threshold, double accuracy, double unpruned);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Information, Message = "i-bau: round {Round}/{Rounds} perturbation norm {Norm:G4}, flips {FoolingRate:P1} of the holdout's predictions")]
    public static partial void PerturbationFound(ILogger logger, int round, int rounds, double norm, double foolingRate);
}
