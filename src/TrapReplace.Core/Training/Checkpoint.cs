using System.Text;
using System.Text.Json;
using TorchSharp.Modules;
using TrapReplace.Data;
using static TorchSharp.torch;

namespace TrapReplace.Training;

/// <summary>
/// One file holding everything needed to resume a stage after an epoch: a JSON header (stage,
/// epoch, history, options), the model's state dict and the optimizer's state. Written atomically,
/// so an interrupted write never replaces the previous good checkpoint.
/// </summary>
internal static class Checkpoint
{
    private static readonly byte[] Magic = "TRCKPT01"u8.ToArray();

    public static void Write(string path, CheckpointHeader header, nn.Module model, OptimizerHelper optimizer)
    {
        // Module.save closes its stream; ToArray still works on a closed MemoryStream.
        var modelStream = new MemoryStream();
        model.save(modelStream);
        var modelBytes = modelStream.ToArray();
        var optimizerStream = new MemoryStream();
        using (var writer = new BinaryWriter(optimizerStream, Encoding.UTF8, leaveOpen: true)) optimizer.save_state_dict(writer);
        var optimizerBytes = optimizerStream.ToArray();
        var json = JsonSerializer.SerializeToUtf8Bytes(header, TrainingJson.Options);

        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(json.Length);
            writer.Write(json);
            writer.Write((long)modelBytes.Length);
            writer.Write(modelBytes);
            writer.Write((long)optimizerBytes.Length);
            writer.Write(optimizerBytes);
        });
    }

    public static CheckpointHeader ReadHeader(string path) => Read(path, null, null);

    /// <summary>
    /// Restores <paramref name="model"/> and <paramref name="optimizer"/> from <paramref name="path"/> when resuming
    /// is asked for and the file exists; returns its header, or null when starting fresh. A checkpoint
    /// written by another stage or with other options is refused rather than silently mixed in.
    /// </summary>
    public static CheckpointHeader? TryResume(string? path, bool resume, string stage, string optionsJson, nn.Module model, OptimizerHelper optimizer)
    {
        if (path is null || !resume || !File.Exists(path)) return null;
        var header = ReadHeader(path);
        if (header.Stage != stage || header.OptionsJson != optionsJson)
            throw new InvalidOperationException($"{path} was written by a run with different options or stage; delete it or choose another checkpoint directory.");
        Read(path, model, optimizer);
        return header;
    }

    public static CheckpointHeader Read(string path, nn.Module? model, OptimizerHelper? optimizer)
    {
        if (!File.Exists(path)) throw new DatasetFormatException(path, "checkpoint not found");
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream, Encoding.UTF8);
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                throw new DatasetFormatException(path, "not a TrapReplace checkpoint (bad magic)");
            var header = JsonSerializer.Deserialize<CheckpointHeader>(reader.ReadBytes(reader.ReadInt32()), TrainingJson.Options)
                ?? throw new DatasetFormatException(path, "checkpoint header is empty");
            long modelLength = reader.ReadInt64();
            if (model is null) return header;
            using (var modelStream = new MemoryStream(reader.ReadBytes(checked((int)modelLength)))) model.load(modelStream);
            long optimizerLength = reader.ReadInt64();
            if (optimizer is not null)
            {
                using var optimizerStream = new MemoryStream(reader.ReadBytes(checked((int)optimizerLength)));
                using var optimizerReader = new BinaryReader(optimizerStream);
                optimizer.load_state_dict(optimizerReader);
            }
            return header;
        }
        catch (EndOfStreamException ex)
        {
            throw new DatasetFormatException(path, "checkpoint is truncated", ex);
        }
        catch (JsonException ex)
        {
            throw new DatasetFormatException(path, $"checkpoint header is corrupt: {ex.Message}", ex);
        }
    }
}

/// <summary>The JSON header of a checkpoint.</summary>
internal sealed record CheckpointHeader(string Stage, int CompletedEpochs, IReadOnlyList<EpochRecord> History, string OptionsJson, double? BestValidationAccuracy = null, int? BestEpoch = null);

/// <summary>JSON settings for everything the training code writes.</summary>
public static class TrainingJson
{
    /// <summary>snake_case property names, enums as strings, indented.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
