using Microsoft.Extensions.Logging;

namespace TrapReplace.Training;

/// <summary>Source-generated log messages of the training stages (stable event ids).</summary>
internal static partial class TrainingLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "{Stage}: starting at epoch {Epoch} of {Epochs} on {Device} ({Samples} samples, batch {BatchSize})")]
    public static partial void Starting(ILogger logger, string stage, int epoch, int epochs, string device, int samples, int batchSize);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "{Stage}: epoch {Epoch}/{Epochs} loss {Loss:F4} (ce {Ce:F4}, mse {Mse:F5}, tv {Tv:F5}) train acc {Accuracy:P2} val acc {Validation} lr {LearningRate:G4} {ImagesPerSecond:F0} img/s")]
    public static partial void EpochDone(ILogger logger, string stage, int epoch, int epochs, double loss, double ce, double mse, double tv, double accuracy, string validation, double learningRate, double imagesPerSecond);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "{Stage}: resumed from {Path} after epoch {Epoch}")]
    public static partial void Resumed(ILogger logger, string stage, string path, int epoch);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "{Stage}: the checkpoint {Path} is not usable ({Problem}); it was moved to {MovedTo} and the stage starts again")]
    public static partial void DamagedCheckpoint(ILogger logger, string stage, string path, string problem, string movedTo);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "{Stage}: non-finite loss at epoch {Epoch}, step {Step}; last good checkpoint {Checkpoint}")]
    public static partial void Diverged(ILogger logger, string stage, int epoch, int step, string checkpoint);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "{Stage}: cancelled during epoch {Epoch}; the checkpoint of the last finished epoch is kept")]
    public static partial void Cancelled(ILogger logger, string stage, int epoch);
}
