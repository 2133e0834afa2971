using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using TorchSharp.Modules;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Persistence;
using static TorchSharp.torch;

namespace TrapReplace.Training;

/// <summary>
/// One file holding everything needed to resume a stage after an epoch: a JSON header (stage,
/// epoch, history, options), the model's state dict and the optimizer's state, followed by the SHA-256 of all of
/// it. Written atomically, so an interrupted write never replaces the previous good checkpoint; read back only when
/// the checksum matches, every length fits the file, and every weight is finite.
/// </summary>
internal static class Checkpoint
{
    private static readonly byte[] Magic = "TRCKPT02"u8.ToArray();
    private static readonly byte[] UnsummedMagic = "TRCKPT01"u8.ToArray();
    private const int HashLength = 32;

    /// <summary>The largest JSON header accepted (a 1,000-epoch history is well under 1 MB).</summary>
    internal const int MaxHeaderBytes = 16 << 20;

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

        var content = new MemoryStream();
        using (var writer = new BinaryWriter(content, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(json.Length);
            writer.Write(json);
            writer.Write((long)modelBytes.Length);
            writer.Write(modelBytes);
            writer.Write((long)optimizerBytes.Length);
            writer.Write(optimizerBytes);
        }
        var bytes = content.ToArray();
        var hash = SHA256.HashData(bytes);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(bytes);
            stream.Write(hash);
        });
    }

    public static CheckpointHeader ReadHeader(string path) => Read(path, null, null);

    /// <summary>
    /// What a checkpoint must match to be resumed: the options, serialised without where the checkpoint lives or
    /// whether to resume (<paramref name="withoutLocation"/> clears those), so a results folder that moved to
    /// another path or machine still resumes.
    /// </summary>
    internal static string Identity<T>(T options, Func<T, T> withoutLocation) =>
        System.Text.Json.JsonSerializer.Serialize(withoutLocation(options), TrainingJson.Options);

    /// <summary>
    /// Restores <paramref name="model"/> and <paramref name="optimizer"/> from <paramref name="path"/> when resuming
    /// is asked for and the file exists; returns its header, or null when starting fresh. A checkpoint written by
    /// another stage or with other options is refused rather than silently mixed in. A damaged one (truncated, failing
    /// its checksum, with impossible lengths or non-finite weights) is moved aside to <c>.damaged</c>, logged, and the
    /// stage starts again: nothing damaged is trusted, nothing is deleted.
    /// </summary>
    public static CheckpointHeader? TryResume(string? path, bool resume, string stage, string optionsJson, nn.Module model, OptimizerHelper optimizer, ILogger logger) =>
        TryResume(path, resume, [stage], optionsJson, model, optimizer, logger);

    /// <summary>
    /// <see cref="TryResume(string?, bool, string, string, nn.Module, OptimizerHelper, ILogger)"/> for a defense of several
    /// phases that keeps one checkpoint: accepts one written by any of <paramref name="stages"/> (the header's stage
    /// says which), and restores the optimizer only when <paramref name="optimizer"/> is given (a phase's optimizer
    /// exists only once that phase starts; it then reads the same file again).
    /// </summary>
    public static CheckpointHeader? TryResume(string? path, bool resume, IReadOnlyCollection<string> stages, string optionsJson, nn.Module model,
        OptimizerHelper? optimizer, ILogger logger)
    {
        if (path is null || !resume || !File.Exists(path)) return null;
        var stage = string.Join(" / ", stages);
        CheckpointHeader header;
        try
        {
            header = ReadHeader(path);
        }
        catch (ModelFormatException e)
        {
            return MoveAside(path, stage, e.Problem, logger);
        }
        if (!stages.Contains(header.Stage) || header.OptionsJson != optionsJson)
            throw new InvalidOperationException($"{path} was written by a run with different options or stage; delete it or choose another checkpoint directory.");
        try
        {
            Read(path, model, optimizer);
        }
        catch (ModelFormatException e)
        {
            return MoveAside(path, stage, e.Problem, logger);
        }
        return header;
    }

    /// <summary>Reads a checkpoint; loads the model (and the optimizer) when given.</summary>
    /// <exception cref="ModelFormatException">Missing, truncated, failing its checksum, malformed, or holding non-finite weights.</exception>
    public static CheckpointHeader Read(string path, nn.Module? model, OptimizerHelper? optimizer)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "checkpoint not found");
        try
        {
            using var stream = File.OpenRead(path);
            long size = stream.Length;
            var magic = new byte[Magic.Length];
            if (size < Magic.Length || stream.Read(magic) != Magic.Length)
                throw new ModelFormatException(path, $"checkpoint is truncated ({size} bytes)");
            if (magic.AsSpan().SequenceEqual(UnsummedMagic))
                throw new ModelFormatException(path, "checkpoint has no checksum (written by an older version)");
            if (!magic.AsSpan().SequenceEqual(Magic))
                throw new ModelFormatException(path, "not a TrapReplace checkpoint (bad magic)");
            long contentLength = size - HashLength;
            if (contentLength < Magic.Length + 4 + 8 + 8)
                throw new ModelFormatException(path, $"checkpoint is truncated ({size} bytes)");
            VerifyChecksum(path, stream, contentLength);

            stream.Position = Magic.Length;
            using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
            int headerLength = reader.ReadInt32();
            if (headerLength < 2 || headerLength > MaxHeaderBytes || headerLength > contentLength - stream.Position)
                throw new ModelFormatException(path, $"checkpoint header length {headerLength} does not fit the file");
            var header = JsonSerializer.Deserialize<CheckpointHeader>(reader.ReadBytes(headerLength), TrainingJson.Options)
                ?? throw new ModelFormatException(path, "checkpoint header is empty");
            long modelLength = reader.ReadInt64();
            if (modelLength < 0 || modelLength > contentLength - stream.Position - 8)
                throw new ModelFormatException(path, $"checkpoint model length {modelLength} does not fit the file");
            if (model is null) return header;
            using (var modelStream = new MemoryStream(reader.ReadBytes((int)modelLength))) model.load(modelStream);
            if (NetworkState.FirstNonFinite(model) is { } bad)
                throw new ModelFormatException(path, $"checkpoint holds non-finite weights (NaN or infinity) in '{bad}'");
            long optimizerLength = reader.ReadInt64();
            if (optimizerLength != contentLength - stream.Position)
                throw new ModelFormatException(path, $"checkpoint optimizer length {optimizerLength} does not fit the file");
            if (optimizer is not null)
            {
                using var optimizerStream = new MemoryStream(reader.ReadBytes((int)optimizerLength));
                using var optimizerReader = new BinaryReader(optimizerStream);
                optimizer.load_state_dict(optimizerReader);
            }
            return header;
        }
        catch (EndOfStreamException ex)
        {
            throw new ModelFormatException(path, "checkpoint is truncated", ex);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, $"checkpoint header is corrupt: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException && ex is not (FileNotFoundException or ModelFormatException))
        {
            throw new ModelFormatException(path, $"checkpoint does not fit this network: {ex.Message}", ex);
        }
    }

    private static void VerifyChecksum(string path, Stream stream, long contentLength)
    {
        stream.Position = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long left = contentLength;
        while (left > 0)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (read == 0) throw new ModelFormatException(path, "checkpoint is truncated");
            hash.AppendData(buffer, 0, read);
            left -= read;
        }
        var stored = new byte[HashLength];
        stream.ReadExactly(stored);
        if (!hash.GetHashAndReset().AsSpan().SequenceEqual(stored))
            throw new ModelFormatException(path, "checkpoint is damaged: its SHA-256 does not match its content");
    }

    /// <summary>Moves a checkpoint that cannot be trusted to <c>.damaged</c> (never deleted) and logs why; returns null.</summary>
    internal static CheckpointHeader? MoveAside(string path, string stage, string problem, ILogger logger)
    {
        var aside = path + ".damaged";
        File.Move(path, aside, overwrite: true);
        TrainingLog.DamagedCheckpoint(logger, stage, path, problem, aside);
        return null;
    }
}

/// <summary>The JSON header of a checkpoint.</summary>
/// <param name="Stage">The stage (or phase) that wrote it.</param>
/// <param name="CompletedEpochs">Epochs of that stage finished.</param>
/// <param name="History">Every epoch's record so far (of earlier phases too).</param>
/// <param name="OptionsJson">The options it was written with (<see cref="Checkpoint.Identity"/>).</param>
/// <param name="BestValidationAccuracy">The best validation accuracy so far (head replacement).</param>
/// <param name="BestEpoch">Its epoch.</param>
/// <param name="Isolated">Samples a defense set apart in an earlier phase (ABL), which the later phases need again.</param>
/// <param name="IsolationLossThreshold">The largest loss among <paramref name="Isolated"/>.</param>
internal sealed record CheckpointHeader(string Stage, int CompletedEpochs, IReadOnlyList<EpochRecord> History, string OptionsJson, double? BestValidationAccuracy = null,
    int? BestEpoch = null, IReadOnlyList<int>? Isolated = null, double? IsolationLossThreshold = null);

/// <summary>JSON settings for everything the training code writes.</summary>
internal static class TrainingJson
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
