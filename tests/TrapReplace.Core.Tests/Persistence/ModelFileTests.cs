using System.Text;
using System.Text.Json;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Persistence;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Persistence;

public sealed class ModelFileTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("model-file").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void A_saved_defended_network_loads_and_predicts_identically()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = ModelSeed.Build(4, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null));
        network.eval();
        var path = Path.Combine(directory, "defended.bin");

        ModelFile.Save(network, path);
        using var loaded = ModelFile.Load(backbone, path);

        using var scope = NewDisposeScope();
        var x = rand(3, 3, 32, 32);
        loaded.ReconstructionHead.Should().BeNull();
        loaded.call(x).allclose(network.call(x), 0, 0).Should().BeTrue();
    }

    [Fact]
    public void A_trapped_network_keeps_its_decoder_and_a_mismatched_backbone_is_a_clear_error()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead());
        var path = Path.Combine(directory, "trapped.bin");
        ModelFile.Save(network, path);

        using var loaded = ModelFile.Load(backbone, path);
        loaded.ReconstructionHead.Should().NotBeNull();

        var act = () => ModelFile.Load(new WideResNet16Backbone(43), path);
        act.Should().Throw<ModelFormatException>().WithMessage("*wrn16-1*43 classes*");
    }

    [Fact]
    public void Safetensors_export_has_a_valid_header_and_the_exact_bytes()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null);
        var path = Path.Combine(directory, "model.safetensors");

        ModelFile.ExportSafetensors(network, path);

        var bytes = File.ReadAllBytes(path);
        var headerLength = (long)BitConverter.ToUInt64(bytes, 0);
        headerLength.Should().BeGreaterThan(0);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        header.RootElement.EnumerateObject().Count().Should().Be(network.state_dict().Count);
        var fc = header.RootElement.GetProperty("head.fc.weight");
        fc.GetProperty("dtype").GetString().Should().Be("F32");
        fc.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(10L, 64L);
        var offsets = fc.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        (offsets[1] - offsets[0]).Should().Be(10 * 64 * 4);
        var stored = new float[640];
        Buffer.BlockCopy(bytes, (int)(8 + headerLength + offsets[0]), stored, 0, 640 * 4);
        stored.Should().Equal(network.state_dict()["head.fc.weight"].data<float>().ToArray());
        header.RootElement.GetProperty("stem.blocks.0.bn1.num_batches_tracked").GetProperty("dtype").GetString().Should().Be("I64");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_safetensors_export_loads_back_identically_with_or_without_its_decoder(bool trapped)
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = ModelSeed.Build(5, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(),
            trapped ? backbone.CreateReconstructionHead() : null));
        var path = Path.Combine(directory, "round-trip.safetensors");
        ModelFile.ExportSafetensors(network, path);

        using var loaded = ModelFile.LoadSafetensors(backbone, path);

        (loaded.ReconstructionHead is not null).Should().Be(trapped, "the layout is read from the file's tensors");
        var expected = network.state_dict();
        foreach (var (name, value) in loaded.state_dict())
            value.equal(expected[name]).all().item<bool>().Should().BeTrue(name);
    }

    [Fact]
    public void A_safetensors_file_that_does_not_hold_the_network_is_refused_before_loading()
    {
        var path = Path.Combine(directory, "model.safetensors");
        using (var network = new TrapNetwork(new WideResNet16Backbone(43).CreateStem(), new WideResNet16Backbone(43).CreateHead(), null))
            ModelFile.ExportSafetensors(network, path);

        var act = () => ModelFile.LoadSafetensors(new WideResNet16Backbone(10), path);
        act.Should().Throw<ModelFormatException>()
            .WithMessage("*wrn16-1*10 classes: tensor 'head.fc.*' has shape [43*], expected [10*]*");
    }

    [Fact]
    public void Damaged_or_hostile_safetensors_files_are_refused_with_the_reason()
    {
        var backbone = new WideResNet16Backbone(10);
        var good = Path.Combine(directory, "good.safetensors");
        using (var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null))
            ModelFile.ExportSafetensors(network, good);
        var bytes = File.ReadAllBytes(good);
        int headerLength = (int)BitConverter.ToUInt64(bytes, 0);
        var header = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Encoding.UTF8.GetString(bytes, 8, headerLength))!;
        var data = bytes[(8 + headerLength)..];

        string Refusal(byte[] content)
        {
            var path = Path.Combine(directory, "bad.safetensors");
            File.WriteAllBytes(path, content);
            var act = () => ModelFile.LoadSafetensors(backbone, path);
            return act.Should().Throw<ModelFormatException>().Which.Problem;
        }
        byte[] WithHeader(string json, byte[] payload)
        {
            var text = Encoding.UTF8.GetBytes(json);
            return [.. BitConverter.GetBytes((ulong)text.Length), .. text, .. payload];
        }

        Refusal([1, 2, 3]).Should().Contain("shorter than the 8-byte header length");
        Refusal([.. BitConverter.GetBytes(ulong.MaxValue), 1, 2]).Should().Contain("header length 18446744073709551615 does not fit");
        Refusal(WithHeader("{\"a\": [", data)).Should().Contain("header is not valid JSON");
        Refusal(bytes[..^100]).Should().Contain("outside the");

        // Two tensors pointing at the same bytes (a BatchNorm's weight and bias have the same shape).
        var overlapping = header.ToDictionary(kv => kv.Key, kv => (object)kv.Value);
        overlapping["stem.blocks.0.bn1.bias"] = new
        {
            dtype = "F32",
            shape = header["stem.blocks.0.bn1.bias"].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
            data_offsets = header["stem.blocks.0.bn1.weight"].GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray(),
        };
        Refusal(WithHeader(JsonSerializer.Serialize(overlapping), data)).Should().Contain("two tensors overlap");

        // A NaN weight: the structure is right, the content is not.
        var fc = header["head.fc.weight"].GetProperty("data_offsets")[0].GetInt64();
        var poisoned = (byte[])bytes.Clone();
        BitConverter.GetBytes(float.NaN).CopyTo(poisoned, 8 + headerLength + (int)fc);
        Refusal(poisoned).Should().Contain("non-finite").And.Contain("head.fc.weight");
    }
}
