using System.Security.Cryptography;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Persistence;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Persistence;

/// <summary>Fault injection: damaged, truncated, crafted and NaN-carrying files are refused with the file named, and a
/// damaged checkpoint makes its stage start again instead of blocking every rerun.</summary>
public sealed class DamagedFileTests : IDisposable
{
    private static readonly WideResNet16Backbone Backbone = new(4);
    private readonly string directory = Directory.CreateTempSubdirectory("trapreplace-damaged-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static TrapTrainerOptions Small(string checkpoints) => new()
    {
        Epochs = 2, BatchSize = 32, LearningRate = 3e-3, Threads = 2, CheckpointDirectory = checkpoints,
    };

    // Trains one of two epochs and stops, leaving the checkpoint of epoch 1.
    private string InterruptedCheckpoint(ImageDataset train)
    {
        using var cts = new CancellationTokenSource();
        var first = new TrapTrainer(Small(directory));
        first.EpochCompleted += (_, _) => cts.Cancel();
        FluentActions.Invoking(() => first.Fit(Backbone, train, cancellationToken: cts.Token)).Should().Throw<OperationCanceledException>();
        return Path.Combine(directory, TrapTrainer.CheckpointFileName);
    }

    public static TheoryData<string, string> Damages => new()
    {
        { "flip", "SHA-256 does not match" },
        { "truncate", "SHA-256 does not match" },
        { "legacy", "no checksum" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_checkpoint_is_moved_aside_and_the_stage_starts_again(string damage, string reason)
    {
        using var train = Synthetic.ColourClasses(64);
        var path = InterruptedCheckpoint(train);
        var bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case "flip": bytes[bytes.Length / 2] ^= 0x40; break;
            case "truncate": bytes = bytes[..(bytes.Length / 3)]; break;
            default: "TRCKPT01"u8.CopyTo(bytes); break;
        }
        File.WriteAllBytes(path, bytes);

        FluentActions.Invoking(() => Checkpoint.ReadHeader(path)).Should().Throw<ModelFormatException>()
            .Which.Message.Should().Contain(path).And.Contain(reason);
        var epochs = new List<int>();
        var second = new TrapTrainer(Small(directory));
        second.EpochCompleted += (_, e) => epochs.Add(e.Record.Epoch);
        using var network = second.Fit(Backbone, train).Network;

        epochs.Should().Equal([0, 1], "the damaged checkpoint is not trusted: training starts again from epoch 0");
        File.ReadAllBytes(path + ".damaged").Should().Equal(bytes, "the damaged file is kept aside, not deleted");
        Checkpoint.ReadHeader(path).CompletedEpochs.Should().Be(2);
    }

    [Fact]
    public void A_checkpoint_with_nan_weights_and_a_valid_checksum_is_refused()
    {
        using var train = Synthetic.ColourClasses(64);
        var path = InterruptedCheckpoint(train);
        using var network = TrapTrainer.CreateNetwork(Backbone, Small(directory));
        using var optimizer = Optimization.Create(OptimizerKind.Adam, network.parameters(), 1e-3, 0, 0.9);
        using (no_grad()) network.parameters().First().fill_(float.NaN);
        var header = Checkpoint.ReadHeader(path);
        Checkpoint.Write(path, header, network, optimizer);

        using var target = TrapTrainer.CreateNetwork(Backbone, Small(directory));
        FluentActions.Invoking(() => Checkpoint.Read(path, target, null)).Should().Throw<ModelFormatException>()
            .Which.Message.Should().Contain(path).And.Contain("non-finite");
    }

    [Fact]
    public void A_crafted_checkpoint_header_length_with_a_matching_checksum_is_refused_before_allocating()
    {
        var path = Path.Combine(directory, "crafted.ckpt");
        var content = new MemoryStream();
        using (var writer = new BinaryWriter(content))
        {
            writer.Write("TRCKPT02"u8);
            writer.Write(int.MaxValue);
            writer.Write(new byte[64]);
            writer.Flush();
            var body = content.ToArray();
            File.WriteAllBytes(path, [.. body, .. SHA256.HashData(body)]);
        }

        FluentActions.Invoking(() => Checkpoint.ReadHeader(path)).Should().Throw<ModelFormatException>()
            .Which.Message.Should().Contain(path).And.Contain("header length 2147483647 does not fit");
    }

    [Fact]
    public void Model_files_with_crafted_dimensions_nan_weights_or_another_layout_are_refused_with_the_file_named()
    {
        using var network = TrapTrainer.CreateNetwork(Backbone, new TrapTrainerOptions());
        var good = Path.Combine(directory, "good.model");
        ModelFile.Save(network, good);
        var bytes = File.ReadAllBytes(good);

        // The first entry's first dimension (after count, key and type, rank) rewritten as 2^40 in LEB128.
        var crafted = Path.Combine(directory, "crafted.model");
        int position = 1;
        int keyLength = bytes[position];
        position += 1 + keyLength + 1 + 1;
        byte[] huge = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
        File.WriteAllBytes(crafted, [.. bytes[..position], .. huge, .. bytes[(position + 1)..]]);
        var error = FluentActions.Invoking(() => ModelFile.Load(Backbone, crafted)).Should().Throw<ModelFormatException>().Which;
        error.Message.Should().Contain(crafted).And.Contain("dimension 0 = 1099511627776");

        using (no_grad()) network.parameters().Last().fill_(float.PositiveInfinity);
        FluentActions.Invoking(() => ModelFile.Save(network, Path.Combine(directory, "inf.model"))).Should().Throw<ArgumentException>()
            .WithMessage("*non-finite*not saved*");
        File.Exists(Path.Combine(directory, "inf.model")).Should().BeFalse();

        var nan = Path.Combine(directory, "nan.model");
        var good2 = TrapTrainer.CreateNetwork(Backbone, new TrapTrainerOptions());
        ModelFile.Save(good2, nan);
        var nanBytes = File.ReadAllBytes(nan);
        // The first entry is the first convolution's float32 weight (16x3x3x3, each dimension one LEB128 byte):
        // overwrite its first value with NaN.
        BitConverter.GetBytes(float.NaN).CopyTo(nanBytes, position + 4);
        File.WriteAllBytes(nan, nanBytes);
        FluentActions.Invoking(() => ModelFile.Load(Backbone, nan)).Should().Throw<ModelFormatException>()
            .Which.Message.Should().Contain(nan).And.Contain("non-finite");

        FluentActions.Invoking(() => ModelFile.Load(new WideResNet16Backbone(10), good)).Should().Throw<ModelFormatException>()
            .Which.Message.Should().Contain(good).And.Contain("10 classes").And.Contain("expected");
        File.WriteAllBytes(good, [.. bytes, 0]);
        FluentActions.Invoking(() => ModelFile.Load(Backbone, good)).Should().Throw<ModelFormatException>()
            .Which.Message.Should().Contain("1 bytes follow the last entry");
    }
}
